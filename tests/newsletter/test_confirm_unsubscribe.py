"""Double opt-in and one-click unsubscribe: links that act only on POST, and never on a replay."""

import time
from urllib.parse import quote

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from newsletter import services, tokens
from newsletter.models import DiscountCode, Subscriber
from skilldacity import pagecache
from skilldacity.signals import person_known
from tests.newsletter.conftest import IssueFactory, SubscriberFactory, links_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(sign_up):
    sign_up()
    return Subscriber.objects.get()


@pytest.fixture
def received_signals():
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    person_known.connect(receiver, dispatch_uid="newsletter-test")
    yield calls
    person_known.disconnect(dispatch_uid="newsletter-test")


def test_opening_the_confirmation_link_confirms_nothing(
    client, pending, confirm_path, django_assert_max_num_queries
):
    """A mail gateway's link scanner follows the link with GET: the person is still pending."""
    with django_assert_max_num_queries(2):
        response = client.get(confirm_path(pending))
    assert response.status_code == 200
    assert "Confirm my subscription" in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")
    pending.refresh_from_db()
    assert pending.status == Subscriber.Status.PENDING
    assert not DiscountCode.objects.exists()


def test_confirming_issues_the_code_emails_it_and_tells_referrals(
    client, pending, confirm_path, mailoutbox, received_signals, django_capture_on_commit_callbacks
):
    path = confirm_path(pending)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, follow=True)

    pending.refresh_from_db()
    assert pending.status == Subscriber.Status.CONFIRMED
    code = DiscountCode.objects.get(subscriber=pending)
    assert code.percent_off == 20
    assert code.expires_at > timezone.now() + timezone.timedelta(days=80)
    assert code.code in response.content.decode()
    welcome = mailoutbox[-1]
    assert code.code in welcome.body
    assert "/newsletter/unsubscribe/" in welcome.body
    assert welcome.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received_signals == [
        {
            "signal": person_known,
            "email": "ada@example.com",
            "source": "newsletter",
            "email_confirmed": True,
            "attribution": {},
            "ip": "127.0.0.1",
            "user": None,
        }
    ]


def test_confirming_twice_changes_nothing(
    client, pending, confirm_path, mailoutbox, received_signals, django_capture_on_commit_callbacks
):
    path = confirm_path(pending)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(path)
        first = Subscriber.objects.get().confirmed_at
        client.post(path)
    assert Subscriber.objects.get().confirmed_at == first
    assert DiscountCode.objects.count() == 1
    assert len(mailoutbox) == 2  # the confirmation link, then one welcome
    assert len(received_signals) == 1


@pytest.mark.parametrize("page", ["confirm", "unsubscribe"])
def test_a_tampered_link_gets_a_friendly_page_and_changes_nothing(client, pending, page):
    for token in ["garbage", "a" * 500, signing.dumps([pending.pk, "wrong-nonce"]), "%00", "::"]:
        for method in (client.get, client.post):
            response = method(f"/newsletter/{page}/{token}/")
            assert response.status_code == 400, token
            assert "We couldn't read this link" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Subscriber.Status.PENDING


def test_an_expired_confirmation_link_changes_nothing(client, pending, confirm_path, monkeypatch):
    path = confirm_path(pending)
    later = time.time() + 8 * 24 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = client.post(path)
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING


def test_unsubscribe_page_asks_first_and_its_button_unsubscribes(
    unsubscribe_path, django_assert_max_num_queries
):
    subscriber = SubscriberFactory()
    browser = Client(enforce_csrf_checks=True)
    path = unsubscribe_path(subscriber)
    # The footer's sign-up form is shared per cache generation; starting one reads the next
    # scheduled article, once, not per page.
    pagecache.current_generation()

    with django_assert_max_num_queries(1):
        page = browser.get(path)
    assert "Stop newsletter e-mails to" in page.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED

    assert browser.post(path).status_code == 403  # the form's POST keeps its CSRF check
    assert Subscriber.objects.get().status == Subscriber.Status.CONFIRMED

    token = page.cookies["csrftoken"].value
    response = browser.post(path, {"csrfmiddlewaretoken": token}, follow=True)
    assert "You're unsubscribed" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.unsubscribed_at is not None


def test_rfc8058_one_click_post_unsubscribes_without_cookies(unsubscribe_path):
    subscriber = SubscriberFactory()
    provider = Client(enforce_csrf_checks=True)
    response = provider.post(
        unsubscribe_path(subscriber),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response.json() == {"unsubscribed": True}
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED


def test_a_replayed_unsubscribe_link_changes_nothing(client, unsubscribe_path):
    subscriber = SubscriberFactory()
    path = unsubscribe_path(subscriber)
    client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    first = Subscriber.objects.get().unsubscribed_at

    response = client.post(path)
    assert "You're unsubscribed" in response.content.decode()
    assert Subscriber.objects.get().unsubscribed_at == first


def test_unsubscribed_people_get_nothing_more_and_can_sign_up_again(
    client, unsubscribe_path, confirm_path, sign_up, mailoutbox, django_capture_on_commit_callbacks
):
    subscriber = SubscriberFactory(email="ada@example.com")
    old_unsubscribe = unsubscribe_path(subscriber)
    old_confirm = confirm_path(subscriber)
    client.post(
        old_unsubscribe,
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    issue = IssueFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.issue_start_send(issue_id=issue.pk)
        services.issue_enqueue(issue_id=issue.pk)
    assert mailoutbox == []

    # An old confirmation link does not bring them back: only a new sign-up does.
    response = client.post(old_confirm)
    assert response.status_code == 410
    assert "You have unsubscribed" in response.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED

    sign_up(email="ada@example.com")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING
    assert len(mailoutbox) == 1
    new_confirm = links_in(mailoutbox[0])[0]
    assert not new_confirm.endswith(old_confirm)
    # Links from the earlier subscription are void now.
    assert client.get(old_unsubscribe).status_code == 410
    assert client.get(old_confirm).status_code == 410


def test_token_reader_never_raises_anything_but_token_error():
    for token in ["", "x", "e30:1:abc", signing.dumps({"a": 1}, salt=tokens.CONFIRM)]:
        with pytest.raises(tokens.TokenError):
            tokens.read_token(token, purpose=tokens.CONFIRM)


@hsettings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(min_size=1, max_size=300), page=st.sampled_from(["confirm", "unsubscribe"]))
def test_no_token_makes_a_500(client, token, page):
    path = f"/newsletter/{page}/{quote(token, safe='')}/"
    for response in (client.get(path), client.post(path, {"List-Unsubscribe": "One-Click"})):
        assert response.status_code in (400, 404, 410)
