"""First-touch attribution: where a visitor first came from, kept in the session.

Leads, newsletter sign-ups and referrals read `get_attribution(request)` and store it with the row
they create, so staff can answer "which articles and campaigns bring us customers?".
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

SESSION_KEY = "attribution"
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
REF_PARAM = "ref"
MAX_VALUE_LENGTH = 200


def client_ip(request):
    """The client's IP. Behind a proxy that sets X-Forwarded-For, its first hop is the client."""
    if settings.USE_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:45]
    return request.META.get("REMOTE_ADDR", "")[:45] or None


def _clean(value):
    return "".join(ch for ch in str(value) if ch.isprintable())[:MAX_VALUE_LENGTH]


def _external_referrer(request):
    referrer = request.META.get("HTTP_REFERER", "")
    if not referrer:
        return ""
    host = urlsplit(referrer).hostname or ""
    if host and host == request.get_host().split(":")[0]:
        return ""
    return _clean(referrer)


class AttributionMiddleware:
    """Record UTM parameters, the external referrer and a referral code on first landing.

    Only visits that carry something worth keeping touch the session, so ordinary readers do not
    get a session row (and the page cache keeps working for them). A later `?ref=` replaces an
    earlier one only when none was set: the first referrer keeps the credit.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "GET":
            self._remember(request)
        return self.get_response(request)

    def _remember(self, request):
        params = request.GET
        utm = {key: _clean(params[key]) for key in UTM_KEYS if params.get(key)}
        ref = _clean(params.get(REF_PARAM, "")).strip().upper()[:32]
        referrer = _external_referrer(request)
        if not (utm or ref or referrer):
            return
        stored = request.session.get(SESSION_KEY)
        if stored is None:
            request.session[SESSION_KEY] = {
                **utm,
                "referrer": referrer,
                "landing_path": _clean(request.get_full_path()),
                "ref": ref,
                **_ref_seen(ref),
            }
        elif ref and not stored.get("ref"):
            request.session[SESSION_KEY] = {**stored, "ref": ref, **_ref_seen(ref)}


def _ref_seen(ref):
    """When the referral code was first seen: the referral attribution window counts from it."""
    return {"ref_seen_at": timezone.now().isoformat()} if ref else {}


def get_attribution(request):
    """The visitor's first-touch attribution, or an empty dict."""
    session = getattr(request, "session", None)
    if session is None:
        return {}
    return dict(session.get(SESSION_KEY) or {})


def set_referral_code(request, code):
    """Remember a referral code (from a /r/CODE short link) unless one is already kept."""
    stored = get_attribution(request)
    if not stored.get("ref"):
        stored.setdefault("landing_path", _clean(request.get_full_path()))
        stored["ref"] = _clean(code).strip().upper()[:32]
        stored.update(_ref_seen(stored["ref"]))
        request.session[SESSION_KEY] = stored
