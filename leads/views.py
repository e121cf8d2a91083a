"""Thin views: parse the form, call `services.lead_submit`, answer."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from skilldacity.attribution import get_attribution
from skilldacity.clientip import client_ip
from skilldacity.formtokens import resubmit_on_csrf_failure
from skilldacity.httpcache import cache_public_page
from skilldacity.quarantine.web import quarantine_form
from skilldacity.spam import rate_limited

from .forms import FORMS
from .models import Lead

logger = logging.getLogger(__name__)
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
    if request.method == "POST":
        form = form_class(request.POST)
        # Counted before validation, so that invalid posts use up the limit too.
        over_limit = _over_rate_limit(request)
        if form.is_valid():
            source_path = form.cleaned_data["next"] or request.path
            reason = form.spam_reason or ("rate-limited" if over_limit else None)
            if reason:
                # Kept for staff to review, not dropped: autofill trips the honeypot too.
                quarantine_form(request, form, form_name=kind, reason=reason)
            else:
                try:
                    form.submit(
                        source_path=source_path,
                        attribution=get_attribution(request),
                        ip=client_ip(request),
                        user=request.user,
                    )
                except ValidationError:
                    # A course or platform withdrawn a moment ago: the form says which.
                    return render(request, PAGES[kind]["template"], {"form": form})
            # Spam gets the same answer as a lead, so a bot learns nothing.
            return redirect(_thanks_url(kind, source_path))
    else:
        form = form_class(source_path=request.path)
    return render(request, PAGES[kind]["template"], {"form": form})


def _resubmittable(kind):
    return resubmit_on_csrf_failure(
        form=lambda request: FORMS[kind](source_path=request.path),
        template=PAGES[kind]["template"],
    )


@require_http_methods(["GET", "HEAD", "POST"])
@cache_public_page
@_resubmittable(Lead.Kind.CALLBACK)
def callback(request):
    return _lead_page(request, Lead.Kind.CALLBACK)


@require_http_methods(["GET", "HEAD", "POST"])
@cache_public_page
@_resubmittable(Lead.Kind.QUOTE)
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
