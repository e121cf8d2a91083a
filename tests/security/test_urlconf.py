"""Every URL in the URL conf, walked: a view added tomorrow is checked without anyone listing it.

- A POST without a CSRF token is refused with 403 by every view, except the few on the allow-list
  below, each with the reason it is safe (it authenticates the request some other way).
- Every /admin/ URL but the login page sends anonymous visitors and signed-in non-staff users to
  the admin login.
"""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bench.drills.urlwalk import walk
from skilldacity.spam import RESEND_MESSAGE

pytestmark = pytest.mark.django_db

# View (dotted path) -> why it may accept a POST without a CSRF token. Keep this short: every entry
# must authenticate the POST some other way.
CSRF_EXEMPT_ALLOWED = {
    "newsletter.views.unsubscribe": "RFC 8058 one-click List-Unsubscribe-Post comes from mail "
    "providers with no cookies; the URL's signed token authorises it, and the button's own POST "
    "is still CSRF-checked (tests/newsletter)",
    "newsletter.views.api_code_check": "server-to-server JSON API for checkouts, authenticated "
    "by a per-integration API key in the Authorization header, never by a cookie",
    "newsletter.views.api_code_redeem": "as api_code_check",
    "newsletter.webhooks.tracking_webhook": "the e-mail provider's server posts bounce and "
    "complaint reports with no cookies; django-anymail checks the HTTP basic-auth secret, and "
    "without a configured secret the URL answers 404 (tests/newsletter/test_bounces.py)",
}
# Admin views a visitor must reach before signing in.
ADMIN_PUBLIC = {"admin:login"}


@pytest.fixture
def routes():
    found = walk()
    assert len(found) > 20, "the walker found suspiciously few URLs"
    return found


@pytest.fixture
def staff_client(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-9-long-x")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_refused(response):
    """Django's 403, or, for a public form, the form shown again to be sent with a token
    (skilldacity.formtokens.csrf_failure)."""
    if response.status_code == 403 and b"CSRF" in response.content:
        return True
    return response.status_code == 200 and RESEND_MESSAGE.encode() in response.content


def test_walker_covers_converters_regexes_and_includes(routes):
    names = {route.name for route in routes}
    assert {"home", "articles:detail", "admin:index", "admin:app_list", "healthz"} <= names
    detail = next(r for r in routes if r.name == "articles:detail")
    assert detail.path == "/news/sample/"
    assert detail.has_arguments


@pytest.mark.parametrize("who", ["anonymous", "staff"])
def test_every_post_without_a_csrf_token_is_refused(routes, who, staff_client):
    """CsrfViewMiddleware runs before the view, so even a view that would 404 or 405 answers 403."""
    client = Client(enforce_csrf_checks=True) if who == "anonymous" else staff_client
    accepted = []
    for route in routes:
        if route.view_path in CSRF_EXEMPT_ALLOWED:
            continue
        response = client.post(route.path, {"email": "mallory@example.com", "name": "x"})
        if not csrf_refused(response):
            accepted.append((route.path, route.view_path, response.status_code))
    assert not accepted, "POST without CSRF token not refused (fix it, or allow-list with reason)"


def test_no_view_is_csrf_exempt_unless_allow_listed(routes):
    exempt = {r.view_path for r in routes if getattr(r.callback, "csrf_exempt", False)}
    assert exempt <= set(CSRF_EXEMPT_ALLOWED)


def test_allow_list_names_views_that_exist(routes):
    """A stale entry would silently exempt whatever view later reuses the name."""
    assert set(CSRF_EXEMPT_ALLOWED) <= {route.view_path for route in routes}


@pytest.mark.parametrize("who", ["anonymous", "non-staff"])
def test_every_admin_url_requires_staff_login(routes, who, client):
    if who == "non-staff":
        user = get_user_model().objects.create_user("mallory", password="pw-9-long-x")
        client.force_login(user)
    admin_routes = [r for r in routes if r.path.startswith("/admin/")]
    assert len(admin_routes) > 10
    reachable = []
    for route in admin_routes:
        if route.name in ADMIN_PUBLIC:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(route.path)
            location = response.get("Location", "") if response.status_code == 302 else ""
            # Django's admin_view sends a signed-out visitor's logout to the index, which then
            # asks for the login: refused all the same.
            to_login = location.startswith("/admin/login/") or (
                route.name == "admin:logout" and location == "/admin/"
            )
            if not to_login:
                reachable.append((method, route.path, response.status_code))
    assert not reachable
