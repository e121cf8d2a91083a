"""Production mode (DJANGO_DEBUG=0): security headers on every response, cookies locked down.

`check --deploy --fail-level WARNING` in production mode is already asserted by
tests/foundation/test_site.py::test_production_settings_pass_check_deploy (it covers this
branch's Security settings too), so it is not repeated here.
"""

import pytest
from django.core.management import call_command
from django.test import Client

from bench.drills.urlwalk import walk

pytestmark = pytest.mark.django_db

REQUIRED_HEADERS = (
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
)


def every_gettable_path():
    """Every route (sample values filled in), plus a page that does not exist."""
    return [route.path for route in walk()] + ["/no-such-page/"]


def test_every_response_carries_the_security_headers(production_mode, admin_client):
    """Anonymous and staff, pages, redirects, errors and 405s alike."""
    call_command("seed_demo", verbosity=0)
    anonymous = Client()
    missing = []
    for path in every_gettable_path():
        for who, client in (("anonymous", anonymous), ("staff", admin_client)):
            response = client.get(path, secure=True)
            absent = [h for h in REQUIRED_HEADERS if not response.has_header(h)]
            if absent:
                missing.append((who, path, response.status_code, absent))
    assert not missing


def test_header_values_are_strict(production_mode, client):
    response = client.get("/", secure=True)

    assert "max-age=31536000" in response["Strict-Transport-Security"]
    assert "includeSubDomains" in response["Strict-Transport-Security"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp


def test_plain_http_is_redirected_to_https_except_healthz(production_mode, client):
    assert client.get("/news/").status_code == 301
    assert client.get("/news/")["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200


def test_session_and_csrf_cookies_are_secure_and_the_session_is_http_only(
    production_mode, client, django_user_model
):
    django_user_model.objects.create_user(username="ada", password="a-long-passphrase-9")
    login_page = client.get("/accounts/login/", secure=True)
    csrf_cookie = login_page.cookies["csrftoken"]
    assert csrf_cookie["secure"]
    assert csrf_cookie["samesite"] == "Lax"

    response = client.post(
        "/accounts/login/",
        {"username": "ada", "password": "a-long-passphrase-9"},
        secure=True,
    )

    assert response.status_code == 302
    session_cookie = response.cookies["sessionid"]
    assert session_cookie["secure"]
    assert session_cookie["httponly"]
    assert session_cookie["samesite"] == "Lax"
