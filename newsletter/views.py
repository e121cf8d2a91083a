import json

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from skilldacity.attribution import get_attribution
from skilldacity.clientip import client_ip
from skilldacity.formtokens import resubmit_on_csrf_failure
from skilldacity.httpcache import cache_public_page
from skilldacity.quarantine.web import quarantine_form
from skilldacity.spam import rate_limited

from . import services, tokens
from .forms import SignupForm
from .models import DiscountCode, Subscriber
from .quarantine import QUARANTINE_FORM


@require_http_methods(["GET", "POST"])
@cache_public_page
@resubmit_on_csrf_failure(
    form=lambda request: SignupForm(source=request.POST.get("source", "page")[:20]),
    template="newsletter/signup.html",
)
def signup(request):
    if request.method == "GET":
        return render(request, "newsletter/signup.html", {"form": SignupForm()})
    form = SignupForm(request.POST, source=request.POST.get("source", "page")[:20])
    rate = settings.NEWSLETTER_SIGNUP_RATE
    over_limit = rate_limited(request, group="newsletter-signup", rate=rate)
    if not form.is_valid():
        return render(request, "newsletter/signup.html", {"form": form})
    reason = form.spam_reason or ("rate-limited" if over_limit else None)
    if reason:
        quarantine_form(request, form, form_name=QUARANTINE_FORM, reason=reason)
    else:
        form.submit(ip=client_ip(request), attribution=get_attribution(request))
    return redirect("newsletter:check_inbox")


def check_inbox(request):
    return render(request, "newsletter/check_inbox.html")


def _bad_link(request, reason, *, action):
    status = 400 if reason == "invalid" else 410
    context = {"reason": reason, "action": action}
    return render(request, "newsletter/bad_link.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request, token):
    """GET shows a button; only its POST confirms, so a mail scanner's prefetch does nothing."""
    try:
        subscriber = tokens.read_token(
            token, purpose=tokens.CONFIRM, max_age=tokens.confirm_max_age()
        )
    except tokens.TokenError as exc:
        return _bad_link(request, exc.reason, action="confirm")
    if subscriber.status == Subscriber.Status.UNSUBSCRIBED:
        return _bad_link(request, "unsubscribed", action="confirm")
    if request.method == "POST":
        services.subscriber_confirm(subscriber_id=subscriber.pk)
        return redirect(request.path)
    code = None
    if subscriber.status == Subscriber.Status.CONFIRMED:
        code = DiscountCode.objects.filter(subscriber=subscriber).first()
    return render(request, "newsletter/confirm.html", {"subscriber": subscriber, "code": code})


def _unsubscribe_page(request, token):
    try:
        subscriber = tokens.read_token(token, purpose=tokens.UNSUBSCRIBE)
    except tokens.TokenError as exc:
        return _bad_link(request, exc.reason, action="unsubscribe")
    done = subscriber.status == Subscriber.Status.UNSUBSCRIBED
    if request.method == "POST" and not done:
        services.subscriber_unsubscribe(subscriber_id=subscriber.pk)
        return redirect(request.path)
    return render(request, "newsletter/unsubscribe.html", {"subscriber": subscriber, "done": done})


_unsubscribe_form = csrf_protect(_unsubscribe_page)


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """GET shows a button. The button's POST is CSRF-checked as usual; the RFC 8058 one-click
    POST comes from the mail provider without cookies, so only that exact body skips the check:
    the signed token in the URL is what authorises it."""
    if request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click":
        try:
            subscriber = tokens.read_token(token, purpose=tokens.UNSUBSCRIBE)
        except tokens.TokenError as exc:
            return JsonResponse({"unsubscribed": False, "error": exc.reason}, status=400)
        services.subscriber_unsubscribe(subscriber_id=subscriber.pk)
        return JsonResponse({"unsubscribed": True})
    return _unsubscribe_form(request, token)


# --- Discount code API for checkouts -------------------------------------------------------

ANSWERS = {
    services.VALID: (200, "The code is valid."),
    services.REDEEMED: (200, "The code is redeemed for this order."),
    services.UNKNOWN: (404, "There is no such code."),
    services.ALREADY_REDEEMED: (409, "This code has already been used."),
    services.EXPIRED: (410, "This code has expired."),
}


def _api_error(status, error, message, **headers):
    response = JsonResponse({"error": error, "message": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _api_key(request):
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer":
        raw = request.headers.get("X-Api-Key", "")
    return services.apikey_authenticate(raw=raw.strip())


def _api_request(request):
    """(api_key, payload) or an error response."""
    api_key = _api_key(request)
    if api_key is None:
        return None, _api_error(
            401,
            "unauthorized",
            "Send a valid API key as 'Authorization: Bearer <key>'.",
            **{"WWW-Authenticate": 'Bearer realm="newsletter"'},
        )
    try:
        payload = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None, _api_error(400, "bad_request", "The body must be JSON.")
    if not isinstance(payload, dict) or not isinstance(payload.get("code"), str):
        return None, _api_error(400, "bad_request", 'Send {"code": "SKILL-XXXX-XXXX"}.')
    order = payload.get("order_reference", "")
    if not isinstance(order, str) or len(order) > 100:
        return None, _api_error(400, "bad_request", "order_reference: text up to 100 characters.")
    return api_key, payload


def _code_response(answer):
    status, message = ANSWERS[answer.outcome]
    body = {"result": answer.outcome, "message": message}
    if answer.code is not None:
        body.update(
            code=answer.code.code,
            percent_off=answer.code.percent_off,
            expires_at=answer.code.expires_at.isoformat(),
            redeemed_at=answer.code.redeemed_at.isoformat() if answer.code.redeemed_at else None,
        )
    if status != 200:
        body["error"] = answer.outcome
    return JsonResponse(body, status=status)


@never_cache
@csrf_exempt  # authenticated by API key, not by cookies: there is no session to forge
@require_POST
def api_code_check(request):
    api_key, payload = _api_request(request)
    if api_key is None:
        return payload
    return _code_response(services.code_check(code=payload["code"]))


@never_cache
@csrf_exempt  # authenticated by API key, not by cookies: there is no session to forge
@require_POST
def api_code_redeem(request):
    api_key, payload = _api_request(request)
    if api_key is None:
        return payload
    answer = services.code_redeem(
        code=payload["code"],
        order_reference=payload.get("order_reference", ""),
        api_key=api_key,
    )
    return _code_response(answer)
