import time

import pytest
from django import forms
from django.test import RequestFactory

from skilldacity.attribution import SESSION_KEY, AttributionMiddleware, get_attribution
from skilldacity.spam import SpamProtectedForm, form_started_token


class ContactForm(SpamProtectedForm):
    name = forms.CharField(max_length=50)


def test_human_post_is_not_spam(settings):
    settings.FORM_MIN_FILL_SECONDS = 2
    form = ContactForm(
        data={"name": "Ada", "form_started": form_started_token(now=time.time() - 10)}
    )
    assert form.is_valid()
    assert not form.is_spam()


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"website": "http://spam.example"}, "honeypot"),
        ({"form_started": "tampered"}, "bad-timestamp"),
    ],
)
def test_bot_posts_are_spam(extra, reason):
    form = ContactForm(data={"name": "Bot", **extra})
    form.is_valid()
    assert form.is_spam()
    assert form.spam_reason == reason


def test_a_post_without_a_timestamp_is_asked_again_not_dropped():
    """Forms on cached pages carry no timestamp until their script fetches one: a post without
    one is shown again with a fresh timestamp, its input kept, rather than judged spam."""
    form = ContactForm(data={"name": "Ada"})
    assert not form.is_valid()
    assert not form.is_spam()
    assert form.data["form_started"]
    assert "send the form again" in str(form.non_field_errors())


def test_instant_post_is_spam(settings):
    settings.FORM_MIN_FILL_SECONDS = 2
    form = ContactForm(data={"name": "Bot", "form_started": form_started_token()})
    form.is_valid()
    assert form.spam_reason == "too-fast"


@pytest.fixture
def session_request():
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    def make(path, **headers):
        request = RequestFactory().get(path, **headers)
        request.session = SessionStore()
        return request

    return make


def _run(request):
    AttributionMiddleware(lambda r: None)(request)
    return get_attribution(request)


def test_first_landing_utm_and_referrer_are_remembered(session_request):
    request = session_request(
        "/news/x/?utm_source=linkedin&utm_campaign=spring&ref=abc123",
        HTTP_REFERER="https://www.linkedin.com/feed/",
    )
    kept = _run(request)
    assert kept["utm_source"] == "linkedin"
    assert kept["utm_campaign"] == "spring"
    assert kept["ref"] == "ABC123"
    assert kept["referrer"] == "https://www.linkedin.com/feed/"
    assert kept["landing_path"].startswith("/news/x/")


def test_later_visits_do_not_overwrite_first_touch_or_first_referrer(session_request):
    request = session_request("/?utm_source=newsletter&ref=FIRST")
    _run(request)
    second = session_request("/?utm_source=google&ref=SECOND")
    second.session = request.session
    kept = _run(second)
    assert kept["utm_source"] == "newsletter"
    assert kept["ref"] == "FIRST"


def test_plain_visit_does_not_touch_the_session(session_request):
    request = session_request("/news/")
    _run(request)
    assert SESSION_KEY not in request.session
    assert not request.session.modified


class PrefixedForm(SpamProtectedForm):
    name = forms.CharField(max_length=50)


def test_prefixed_forms_read_their_own_honeypot_and_timestamp():
    """Two forms share an article page, so each reads its own prefixed spam fields."""
    human = PrefixedForm(
        prefix="quote",
        data={"quote-name": "Ada", "quote-form_started": form_started_token(time.time() - 10)},
    )
    assert human.is_valid() and not human.is_spam()
    bot = PrefixedForm(
        prefix="quote",
        data={
            "quote-name": "Bot",
            "quote-website": "http://spam.example",
            "quote-form_started": form_started_token(time.time() - 10),
        },
    )
    bot.is_valid()
    assert bot.spam_reason == "honeypot"


def test_a_form_left_open_past_its_token_age_asks_to_send_again(settings, monkeypatch):
    settings.FORM_MAX_AGE_SECONDS = 60
    two_minutes_ago = time.time() - 120
    with monkeypatch.context() as patch:
        patch.setattr("django.core.signing.time.time", lambda: two_minutes_ago)
        stale = form_started_token(now=two_minutes_ago)
    form = ContactForm(data={"name": "Ada", "form_started": stale})
    assert not form.is_valid()
    assert not form.is_spam()
    assert "send it again" in str(form.non_field_errors())
    assert form.data["name"] == "Ada"
    assert form.data["form_started"] != stale


def test_rate_limit_lets_requests_through_when_the_cache_is_down(settings, rf):
    from skilldacity.spam import rate_limited

    settings.CACHES = {
        "default": {
            "BACKEND": "skilldacity.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    # Overriding CACHES resets the cache handlers (Django's setting_changed receiver).
    assert rate_limited(rf.post("/contact/"), group="t", rate="1/m") is False


def test_referral_code_records_when_it_was_first_seen(session_request):
    """The referral attribution window counts from the first visit through the link."""
    request = session_request("/?ref=abc123")
    kept = _run(request)
    assert kept["ref"] == "ABC123"
    first_seen = kept["ref_seen_at"]
    later = session_request("/?ref=OTHER")
    later.session = request.session
    assert _run(later)["ref_seen_at"] == first_seen
