import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.templatetags.static import static
from django.urls import reverse
from django.views import defaults
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from articles.models import Article

from .httpcache import cache_public_page

# A PostgreSQL restart or failover takes seconds; ask clients to come back after about that long.
DATABASE_RETRY_AFTER_SECONDS = 30


@cache_public_page(keys=("list",))
def home(request):
    latest = Article.objects.published().for_listing()[:3]
    return render(request, "home.html", {"latest_articles": latest})


@require_GET
@cache_control(max_age=86400, public=True)
def robots_txt(request):
    lines = [
        "User-agent: *",
        "Disallow: /admin/",
        "Disallow: /accounts/",
        f"Sitemap: {request.build_absolute_uri(reverse('sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


def favicon(request):
    return redirect(static("img/favicon.svg"), permanent=True)


def server_error(request):
    """The 500 handler, except that a database outage answers 503 with Retry-After.

    A request that fails because PostgreSQL is unreachable (restart, failover) is not a bug in the
    page: "come back shortly" is the honest answer, and 503 tells crawlers and monitors to retry
    instead of recording a broken page. Rendered without a request context, like Django's own 500
    handler, because the context processors may need the database that just failed.
    """
    exception = sys.exc_info()[1]
    if isinstance(exception, (OperationalError, InterfaceError)):
        response = HttpResponse(
            loader.get_template("503.html").render(), status=503, content_type="text/html"
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)
