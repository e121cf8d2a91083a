import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from newsletter.forms import CONSENT_TEXT, SignupForm, is_disposable
from newsletter.models import Subscriber
from skilldacity import pagecache
from skilldacity.attribution import SESSION_KEY
from skilldacity.quarantine.models import QuarantinedPost
from tests.newsletter.conftest import links_in

pytestmark = pytest.mark.django_db


def test_signup_page_shows_the_form_with_a_fixed_query_count(client, django_assert_max_num_queries):
    pagecache.current_generation()  # started once per generation, not per page
    with django_assert_max_num_queries(0):
        response = client.get("/newsletter/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="nl-page-email"' in content
    assert CONSENT_TEXT in content
    assert 'name="csrfmiddlewaretoken"' in content


def test_signup_stores_a_pending_subscriber_with_consent_and_sends_the_link(
    client, sign_up, mailoutbox
):
    session = client.session
    session[SESSION_KEY] = {"utm_source": "news", "ref": "ANNA1", "landing_path": "/news/x/"}
    session.save()

    response = sign_up(email="  Ada@Example.COM ", source="article")

    assert response.status_code == 302
    assert response["Location"] == "/newsletter/check-your-inbox/"
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "ada@example.com"
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.source == "article"
    assert subscriber.consent_text == CONSENT_TEXT
    assert subscriber.consent_ip == "127.0.0.1"
    assert subscriber.consent_at is not None
    assert subscriber.attribution["ref"] == "ANNA1"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ada@example.com"]
    assert "/newsletter/confirm/" in links_in(mailoutbox[0])[0]
    assert client.get(response["Location"]).content.decode().count("Check your inbox") >= 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "not-an-address"}, "Please enter a valid e-mail address"),
        ({"email": ""}, "Please enter your e-mail address."),
        ({"email": "someone@mailinator.com"}, "That looks like a temporary mailbox"),
        ({"email": "someone@x.mailinator.com"}, "That looks like a temporary mailbox"),
        ({"consent": ""}, "Please tick the box so we may e-mail you."),
        ({"first_name": "A" * 101}, "Ensure this value has at most 100 characters"),
    ],
)
def test_bad_input_shows_the_error_keeps_the_input_and_stores_nothing(
    sign_up, mailoutbox, overrides, message
):
    response = sign_up(**{"first_name": "Grace", **overrides})

    assert response.status_code == 200
    content = response.content.decode()
    assert message in content
    assert "is-invalid" in content
    if "first_name" not in overrides:
        assert 'value="Grace"' in content
    if overrides.get("email"):
        assert f'value="{overrides["email"]}"' in content
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_spam_is_answered_like_success_and_makes_no_subscriber(sign_up, mailoutbox):
    response = sign_up(website="http://spam.example")
    assert response.status_code == 302
    assert response["Location"] == "/newsletter/check-your-inbox/"
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_signing_up_again_resends_the_link_instead_of_a_second_subscriber(sign_up, mailoutbox):
    sign_up()
    sign_up()  # within the resend window: nothing more is sent
    assert Subscriber.objects.count() == 1
    assert len(mailoutbox) == 1

    Subscriber.objects.update(
        last_confirmation_sent_at=timezone.now() - timezone.timedelta(hours=1)
    )
    sign_up(email="ADA@example.com", first_name="Ada L.")

    subscriber = Subscriber.objects.get()
    assert subscriber.first_name == "Ada L."
    assert len(mailoutbox) == 2
    # The same subscriber's confirmation: the signed payload matches; its timestamp may not (the
    # test failed in CI when the two sign-ups fell in different seconds).
    first, again = links_in(mailoutbox[0])[0], links_in(mailoutbox[1])[0]
    assert again.rsplit(":", 2)[0] == first.rsplit(":", 2)[0]


def test_a_confirmed_subscriber_signing_up_again_gets_a_reminder_with_their_code(
    sign_up, mailoutbox, client, confirm_path, django_capture_on_commit_callbacks
):
    sign_up()
    subscriber = Subscriber.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(confirm_path(subscriber))
    code = subscriber.discount_code.code
    Subscriber.objects.update(
        last_confirmation_sent_at=timezone.now() - timezone.timedelta(hours=1)
    )

    sign_up()

    assert Subscriber.objects.count() == 1
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED
    reminder = mailoutbox[-1]
    assert "already subscribed" in reminder.subject
    assert code in reminder.body


def test_sign_ups_over_the_rate_limit_are_kept_in_quarantine(sign_up, settings, mailoutbox):
    settings.NEWSLETTER_SIGNUP_RATE = "3/m"
    for number in range(3):
        assert sign_up(email=f"p{number}@example.com").status_code == 302
    response = sign_up(email="p9@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/newsletter/check-your-inbox/"
    assert Subscriber.objects.count() == 3
    assert len(mailoutbox) == 3
    post = QuarantinedPost.objects.get()
    assert (post.form, post.reason, post.contact) == (
        "newsletter",
        "rate-limited",
        "p9@example.com",
    )


def test_a_honeypot_sign_up_released_by_staff_gets_its_confirmation_once(
    sign_up, admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    assert sign_up(website="autofill", email="real@example.com").status_code == 302
    assert Subscriber.objects.count() == 0
    assert mailoutbox == []
    post = QuarantinedPost.objects.get()
    url = reverse("admin:quarantine_quarantinedpost_release", args=[post.pk])

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url)
        admin_client.post(url)

    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.source) == ("real@example.com", "footer")
    assert subscriber.status == Subscriber.Status.PENDING
    assert [message.to for message in mailoutbox] == [["real@example.com"]]


def test_footer_and_article_forms_on_one_page_have_distinct_ids_and_no_visitor_data():
    template = Template(
        '{% load newsletter_tags %}{% newsletter_signup source="article" %}'
        '{% newsletter_signup source="footer" %}'
    )
    request = RequestFactory().get("/news/some-article/")
    html = template.render(Context({"request": request}))

    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), ids
    assert 'id="nl-article-email"' in html
    assert 'id="nl-footer-email"' in html
    assert 'for="nl-footer-consent"' in html
    # Everything a page cache could share is the same for two visitors, except the CSRF token.
    other = RequestFactory().get("/news/some-article/", HTTP_COOKIE="sessionid=abc")
    other.user = None
    html_other = template.render(Context({"request": other}))
    strip = re.compile(r'name="(form_started|csrfmiddlewaretoken)" value="[^"]*"')
    assert strip.sub("", html) == strip.sub("", html_other)


def test_the_footer_form_is_on_every_page(client):
    content = client.get("/").content.decode()
    assert 'id="nl-footer-email"' in content
    assert 'action="/newsletter/"' in content


texts = st.text(max_size=300)


@hsettings(max_examples=150, deadline=None)
@given(email=texts, first_name=texts, consent=texts, source=texts)
def test_form_never_crashes_on_any_input(email, first_name, consent, source):
    form = SignupForm(
        data={"email": email, "first_name": first_name, "consent": consent, "source": source},
        source="page",
    )
    if form.is_valid():
        assert "@" in form.cleaned_data["email"]
        assert form.cleaned_data["source"] in {"footer", "article", "page"}
        assert not is_disposable(form.cleaned_data["email"].rsplit("@", 1)[1])
    else:
        assert form.errors


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.dictionaries(
        st.sampled_from(["email", "first_name", "consent", "source", "website", "form_started"]),
        st.text(max_size=200),
    )
)
def test_signup_view_never_answers_500(client, settings, data):
    settings.NEWSLETTER_SIGNUP_RATE = "100000/m"
    response = client.post("/newsletter/", data)
    assert response.status_code in (200, 302)
