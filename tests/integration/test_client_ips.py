"""Hostile X-Forwarded-For headers on every public form, on PostgreSQL (whose `inet` columns
refuse junk with an error, so a bad value would be a 500) and Redis (the rate-limit buckets).

The site sits behind one reverse proxy here (TRUSTED_PROXY_COUNT=1, as with nginx in front): the
client is the header's last entry, the one the proxy appended; anything left of it came from the
client and is ignored. Whatever the header holds, a page answers normally and stores either a
valid address or nothing.
"""

import itertools
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from leads.demo import seed_catalogue
from leads.models import Course, DevicePlatform, Lead
from newsletter.models import Subscriber
from referrals.models import ReferrerAccount
from skilldacity.quarantine.models import QuarantinedPost
from skilldacity.spam import form_started_token

pytestmark = pytest.mark.django_db

# (X-Forwarded-For as received from the proxy, the client IP that must be stored)
HEADERS = [
    ("203.0.113.5", "203.0.113.5"),
    ("198.51.100.1, 203.0.113.5", "203.0.113.5"),
    ("forged-by-client,203.0.113.5", "203.0.113.5"),
    ("2001:DB8::1", "2001:db8::1"),
    ("::ffff:192.0.2.1", "192.0.2.1"),
    ("", "127.0.0.1"),
    ("203.0.113.5, not-an-ip", None),
    ("not-an-ip", None),
    ("<script>alert(1)</script>", None),
    ("'; DROP TABLE leads_lead; --", None),
    ("999.1.1.1", None),
    ("010.0.0.1", None),
    ("203.0.113.5:8080", None),
    ("[2001:db8::1]:443", None),
    ("fe80::1%eth0", None),
    ("\uff11.\uff12.\uff13.\uff14", None),
    ("\x00", None),
    (", , ,", None),
    ("1" * 5000, None),
    (("1.2.3.4, " * 600) + "203.0.113.5", None),
]
IDS = [repr(header[:30]) for header, _ in HEADERS]
_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LEADS_RATE_LIMIT = settings.NEWSLETTER_SIGNUP_RATE = "100000/m"
    cache.clear()  # the referral sign-up's fixed 10/h must not turn these posts away
    yield
    cache.clear()


@pytest.fixture
def catalogue(db):
    seed_catalogue()


def started():
    return form_started_token(now=time.time() - 10)


def post(client, path, data, header):
    return client.post(path, data, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=header)


def email():
    return f"visitor{next(_numbers)}@example.com"


def callback_data(address, **extra):
    fields = {
        "name": "Ada Lovelace",
        "phone": "07911 123456",
        "email": address,
        "course": str(Course.objects.order_by("pk").first().pk),
        "platform": str(DevicePlatform.objects.order_by("pk").first().pk),
        "call_time": "morning",
        "call_timezone": "Europe/London",
        "consent": "on",
        "form_started": started(),
        **extra,
    }
    return {f"callback-{key}": value for key, value in fields.items()}


@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=IDS)
def test_callback_form(client, catalogue, header, expected):
    address = email()
    assert post(client, "/contact/", callback_data(address), header).status_code == 302
    assert Lead.objects.get(email=address).ip == expected


@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=IDS)
def test_quote_form(client, catalogue, header, expected):
    address = email()
    fields = {
        "name": "Grace Hopper",
        "email": address,
        "organisation": "Navy Training Ltd",
        "learners": "5",
        "courses": str(Course.objects.order_by("pk").first().pk),
        "platform": str(DevicePlatform.objects.order_by("pk").first().pk),
        "delivery": "online",
        "timeframe": "asap",
        "consent": "on",
        "form_started": started(),
    }
    data = {f"quote-{key}": value for key, value in fields.items()}
    assert post(client, "/quote/", data, header).status_code == 302
    assert Lead.objects.get(email=address).ip == expected


@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=IDS)
def test_a_quarantined_post(client, catalogue, header, expected):
    address = email()
    data = callback_data(address, website="autofilled")
    assert post(client, "/contact/", data, header).status_code == 302
    assert QuarantinedPost.objects.get().ip == expected


@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=IDS)
def test_newsletter_sign_up(client, header, expected):
    address = email()
    data = {"email": address, "consent": "on", "source": "page", "form_started": started()}
    assert post(client, "/newsletter/", data, header).status_code == 302
    assert Subscriber.objects.get(email=address).consent_ip == expected


@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=IDS)
def test_referral_account_sign_up(client, header, expected):
    address = email()
    data = {
        "email": address,
        "password1": "a-long-unusual-passphrase",
        "password2": "a-long-unusual-passphrase",
        "form_started": started(),
    }
    assert post(client, "/accounts/signup/", data, header).status_code == 302
    assert ReferrerAccount.objects.get(user__email=address).signup_ip == expected


@pytest.mark.parametrize("url", ["/admin/login/", "/accounts/login/"])
@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=IDS)
def test_sign_in_throttle(client, url, header, expected):
    response = post(client, url, {"username": "nobody", "password": "wrong"}, header)
    assert response.status_code == 200


def test_sign_in_throttle_counts_the_proxied_client_not_what_it_claims(client):
    get_user_model().objects.create_user(
        username="grace", password="correct-horse-battery", is_staff=True
    )
    for number in range(5):
        forged = f"10.0.0.{number}, 203.0.113.5"
        data = {"username": f"guess{number}", "password": "wrong"}
        assert post(client, "/admin/login/", data, forged).status_code == 200

    data = {"username": "grace", "password": "correct-horse-battery"}
    assert post(client, "/admin/login/", data, "10.9.9.9, 203.0.113.5").status_code == 429
    # Another client behind the same proxy is not paying for the first one's guesses.
    assert post(client, "/admin/login/", data, "203.0.113.6").status_code == 302
