"""Forms on pages a shared cache serves to everyone: no visitor's token in the page, a token from
`/forms/token/` when the script runs, and without JavaScript one extra click, nothing lost."""

import json
import re
import time
from urllib.parse import quote

import pytest
from django.core import signing
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client

from leads.forms import CallbackForm
from leads.models import Lead
from newsletter.models import Subscriber
from skilldacity import spam
from skilldacity.spam import RESEND_MESSAGE
from tests.articles.factories import ArticleFactory

pytestmark = pytest.mark.django_db

EMPTY_TOKEN = 'name="csrfmiddlewaretoken" value=""'


def hidden_value(html, name):
    """The value of input `name`; "" for an input rendered without one."""
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', html).group(0)
    value = re.search(r'value="([^"]*)"', tag)
    return value.group(1) if value else ""


def later(monkeypatch, seconds=5):
    """The visitor takes `seconds` to fill the form in."""
    now = time.time()
    monkeypatch.setattr(spam.time, "time", lambda: now + seconds)


@pytest.fixture
def article(catalogue):
    return ArticleFactory()


def test_the_token_endpoint_is_never_cached_and_sets_the_csrf_cookie():
    visitor = Client(enforce_csrf_checks=True)
    response = visitor.get("/forms/token/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    answer = json.loads(response.content)
    secret = response.cookies["csrftoken"].value
    assert _unmask_cipher_token(answer["csrfToken"]) == secret
    started = signing.loads(answer["formStarted"], salt="skilldacity.spam.form-started")
    assert abs(started - time.time()) < 5
    assert visitor.post("/forms/token/").status_code == 403  # GET only, and still CSRF-checked


def test_an_article_page_carries_no_visitor_token_and_is_the_same_for_everyone(article):
    url = article.get_absolute_url()
    first = Client().get(url)
    second = Client(enforce_csrf_checks=True).get(url)
    html = first.content.decode()
    # Callback, quote, and the newsletter in the sidebar and the footer.
    assert html.count("<form") == html.count(EMPTY_TOKEN) == 4
    assert hidden_value(html, "callback-form_started") == ""
    assert hidden_value(html, "quote-form_started") == ""
    assert not first.cookies and not second.cookies
    assert first.content == second.content
    assert 'src="/static/js/forms.js" data-token-url="/forms/token/"' in html


def test_a_form_sent_with_the_endpoints_token_lands_once(
    article, callback_data, monkeypatch, django_capture_on_commit_callbacks
):
    """What static/js/forms.js does: the page, then the token, then the post."""
    visitor = Client(enforce_csrf_checks=True)
    html = visitor.get(article.get_absolute_url()).content.decode()
    assert EMPTY_TOKEN in html
    token = json.loads(visitor.get("/forms/token/").content)
    later(monkeypatch)
    data = callback_data(
        form_started=token["formStarted"], next=article.get_absolute_url(), article=str(article.pk)
    )
    data["csrfmiddlewaretoken"] = token["csrfToken"]
    with django_capture_on_commit_callbacks(execute=True):
        response = visitor.post("/contact/", data)
    assert response.status_code == 302 and response["Location"].startswith("/contact/thanks/")
    lead = Lead.objects.get()
    assert lead.email == "ada@example.com" and lead.article == article


def test_too_fast_is_still_measured_from_the_endpoints_timestamp(callback_data):
    """The timestamp a cached page could carry is old; the endpoint's is fresh, so a bot that
    fetches it and posts at once is still too fast."""
    token = json.loads(Client().get("/forms/token/").content)
    form = CallbackForm(data=callback_data(form_started=token["formStarted"]))
    form.is_valid()
    assert form.is_spam() and form.spam_reason == "too-fast"


def test_without_javascript_the_form_comes_back_as_typed_and_the_second_send_lands(
    article, quote_data, monkeypatch, django_capture_on_commit_callbacks
):
    """The cached page's form posted as it is (no token, no timestamp): refused by CSRF, but
    shown again with what was typed, a real token, a fresh timestamp and a plain message."""
    visitor = Client(enforce_csrf_checks=True)
    visitor.get(article.get_absolute_url())
    data = quote_data(form_started="", message="Twelve learners in Leeds, evenings please")
    data["csrfmiddlewaretoken"] = ""
    response = visitor.post("/quote/", data)

    html = response.content.decode()
    assert response.status_code == 200
    assert RESEND_MESSAGE in html
    assert "no-store" in response["Cache-Control"]
    assert 'value="Grace Hopper"' in html and 'value="grace@navy.example"' in html
    assert "Twelve learners in Leeds, evenings please" in html
    for course in data["quote-courses"]:
        assert re.search(rf'value="{course}"[^>]*checked|checked[^>]*value="{course}"', html)
    assert re.search(r'name="quote-consent"[^>]*checked', html)
    assert Lead.objects.count() == 0

    token = hidden_value(html, "csrfmiddlewaretoken")
    assert _unmask_cipher_token(token) == response.cookies["csrftoken"].value
    started = hidden_value(html, "quote-form_started")
    assert started
    later(monkeypatch)
    data.update({"csrfmiddlewaretoken": token, "quote-form_started": started})
    with django_capture_on_commit_callbacks(execute=True):
        sent = visitor.post("/quote/", data)
    assert sent.status_code == 302
    assert Lead.objects.get().message == "Twelve learners in Leeds, evenings please"


def test_without_javascript_the_newsletter_sign_up_takes_one_more_click(
    article, monkeypatch, django_capture_on_commit_callbacks
):
    visitor = Client(enforce_csrf_checks=True)
    html = visitor.get(article.get_absolute_url()).content.decode()
    assert EMPTY_TOKEN in html
    data = {
        "email": "reader@example.com",
        "first_name": "Rosalind",
        "consent": "on",
        "source": "article",
        "article": str(article.pk),
        "form_started": "",
        "csrfmiddlewaretoken": "",
    }
    response = visitor.post("/newsletter/", data)
    again = response.content.decode()
    assert response.status_code == 200 and RESEND_MESSAGE in again
    assert 'value="reader@example.com"' in again and 'value="Rosalind"' in again
    assert not Subscriber.objects.exists()
    later(monkeypatch)
    data["csrfmiddlewaretoken"] = hidden_value(again, "csrfmiddlewaretoken")
    data["form_started"] = hidden_value(again, "form_started")
    with django_capture_on_commit_callbacks(execute=True):
        sent = visitor.post("/newsletter/", data)
    assert sent.status_code == 302
    assert Subscriber.objects.get().email == "reader@example.com"


def test_other_posts_without_a_token_still_get_djangos_403():
    response = Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": "a", "password": "b"}
    )
    assert response.status_code == 403
    assert RESEND_MESSAGE not in response.content.decode()


def test_a_post_with_a_token_but_no_timestamp_is_asked_again_not_stored(client, callback_data):
    response = client.post("/contact/", callback_data(form_started=""))
    html = response.content.decode()
    assert response.status_code == 200 and RESEND_MESSAGE in html
    assert 'value="Ada Lovelace"' in html and hidden_value(html, "callback-form_started")
    assert Lead.objects.count() == 0


def test_campaign_attribution_survives_a_landing_page_served_from_the_cache(
    article, callback_data, monkeypatch, django_capture_on_commit_callbacks
):
    """The application never saw the landing URL; the script kept it in a cookie, which the
    next request that reaches the application (the token fetch) moves into the session."""
    visitor = Client(enforce_csrf_checks=True)
    landing = f"{article.get_absolute_url()}?utm_source=linkedin&utm_campaign=spring"
    kept = (
        "utm_source=linkedin&utm_campaign=spring&ref=FRIEND1"
        "&referrer=https%3A%2F%2Fwww.linkedin.com%2Ffeed%2F"
        f"&landing_path={quote(landing, safe='')}"
    )
    visitor.cookies["skd_attribution"] = quote(kept, safe="")
    response = visitor.get("/forms/token/")
    assert response.cookies["skd_attribution"]["max-age"] == 0  # read once, then removed
    token = json.loads(response.content)
    later(monkeypatch)
    data = callback_data(form_started=token["formStarted"])
    data["csrfmiddlewaretoken"] = token["csrfToken"]
    with django_capture_on_commit_callbacks(execute=True):
        assert visitor.post("/contact/", data).status_code == 302
    lead = Lead.objects.get()
    assert (lead.utm_source, lead.utm_campaign) == ("linkedin", "spring")
    assert lead.landing_path == landing
    assert lead.referrer == "https://www.linkedin.com/feed/"


def test_the_first_campaign_keeps_the_credit(client):
    client.get("/contact/?utm_source=google")
    client.cookies["skd_attribution"] = quote("utm_source=facebook&ref=LATE1", safe="")
    client.get("/forms/token/")
    stored = client.session["attribution"]
    assert stored["utm_source"] == "google" and stored["ref"] == "LATE1"
