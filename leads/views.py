"""Thin views: parse the form, call `services.lead_submit`, answer."""

import ipaddress
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from skilldacity.attribution import client_ip, get_attribution
from skilldacity.spam import rate_limited

from .forms import CONSENT_TEXT, FORMS
from .models import Lead
from .services import lead_submit

# Reached through the foreign key rather than imported: the articles app already depends on
# leads (through insights), and an import back would make a loop.
Article = Lead.article.field.related_model

logger = logging.getLogger(__name__)
RATE_LIMITED_MESSAGE = (
    "You've sent several requests in a short time. Please wait a minute and send it again; "
    "what you typed is still here."
)
PAGES = {
    Lead.Kind.CALLBACK: {
        "template": "leads/callback.html",
        "thanks": "leads:callback_thanks",
    },
    Lead.Kind.QUOTE: {
        "template": "leads/quote.html",
        "thanks": "leads:quote_thanks",
    },
}


def _valid_ip(value):
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def _over_rate_limit(request):
    """Per-IP limit on lead posts, counted in the cache (Redis in production).

    If the cache is down the post goes through: a lost lead costs more than a few extra posts.
    """
    try:
        return rate_limited(request, group="leads", rate=settings.LEADS_RATE_LIMIT)
    except Exception:  # noqa: BLE001 - any cache failure; the lead matters more
        logger.warning("Rate limit unavailable (cache error); letting the lead through")
        return False


def _thanks_url(kind, source_path):
    url = reverse(PAGES[kind]["thanks"])
    return f"{url}?{urlencode({'next': source_path})}" if source_path else url


def _lead_page(request, kind):
    form_class = FORMS[kind]
    status = 200
    if request.method == "POST":
        form = form_class(request.POST)
        if _over_rate_limit(request):
            form.full_clean()
            form.add_error(None, RATE_LIMITED_MESSAGE)
            status = 429
        elif form.is_valid():
            source_path = form.cleaned_data["next"] or request.path
            if not form.is_spam():
                article_id = form.cleaned_data["article"]
                lead_submit(
                    kind=kind,
                    fields=form.lead_data(),
                    courses=form.chosen_courses(),
                    consent_text=CONSENT_TEXT,
                    attribution=get_attribution(request),
                    source_path=source_path,
                    article=Article.objects.filter(pk=article_id).first() if article_id else None,
                    ip=_valid_ip(client_ip(request)),
                    user=request.user,
                )
            # Spam gets the same answer as a lead, so a bot learns nothing.
            return redirect(_thanks_url(kind, source_path))
    else:
        form = form_class(source_path=request.path)
    return render(request, PAGES[kind]["template"], {"form": form}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def callback(request):
    return _lead_page(request, Lead.Kind.CALLBACK)


@require_http_methods(["GET", "HEAD", "POST"])
def quote(request):
    return _lead_page(request, Lead.Kind.QUOTE)


def _thanks(request, kind):
    back = request.GET.get("next", "")
    if not (back.startswith("/") and url_has_allowed_host_and_scheme(back, allowed_hosts=None)):
        back = ""
    return render(request, f"leads/{kind}_thanks.html", {"back": back})


@require_GET
def callback_thanks(request):
    return _thanks(request, Lead.Kind.CALLBACK)


@require_GET
def quote_thanks(request):
    return _thanks(request, Lead.Kind.QUOTE)
