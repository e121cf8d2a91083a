"""Bounces and spam complaints reported by the e-mail provider (anymail's Postmark tracking
webhook, secured by its basic-auth secret) take the address off the list."""

import base64
import json

import pytest

from newsletter import services
from newsletter.models import Subscriber
from skilldacity.outbox.models import Email
from tests.newsletter.conftest import IssueFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

URL = "/newsletter/webhooks/postmark/tracking/"
SECRET = "postmark:s3cret-webhook-pass"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def report(client, payload, secret=SECRET):
    headers = {}
    if secret:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(secret.encode()).decode()
    return client.post(URL, json.dumps(payload), content_type="application/json", **headers)


def bounce(email):
    return {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "ID": 42,
        "Email": email,
        "BouncedAt": "2026-12-03T08:00:00Z",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
    }


def complaint(email):
    return {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "ID": 43,
        "Email": email,
        "BouncedAt": "2026-12-03T08:00:00Z",
    }


def send_issue():
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue(issue_id=issue.pk)
    return issue


@pytest.mark.parametrize(
    ("payload", "status"),
    [(bounce, Subscriber.Status.BOUNCED), (complaint, Subscriber.Status.COMPLAINED)],
)
def test_a_reported_address_is_off_the_list_and_the_next_send_skips_it(client, payload, status):
    reader, other = SubscriberFactory.create_batch(2)
    queued = send_issue()  # queued, not yet sent: the report cancels the queued copy too

    response = report(client, payload(reader.email.upper()))

    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == status
    assert "Postmark" in reader.undeliverable_reason
    assert Email.objects.get(key=queued.email_key(reader.pk)).status == Email.Status.CANCELLED
    following = send_issue()
    recipients = Email.objects.filter(key__startswith=following.email_key_prefix)
    assert list(recipients.values_list("to", flat=True)) == [other.email]


@pytest.mark.parametrize(
    "secret",
    [None, "postmark:wrong", "postmark:s3cret-webhook-pas"],
    ids=["none", "wrong", "short"],
)
def test_a_report_without_the_secret_is_refused_and_changes_nothing(client, secret):
    reader = SubscriberFactory()
    response = report(client, bounce(reader.email), secret=secret)
    assert response.status_code == 400
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.CONFIRMED


def test_without_a_configured_secret_the_webhook_does_not_exist(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": ""}
    reader = SubscriberFactory()
    assert report(client, bounce(reader.email), secret=None).status_code == 404
    assert report(client, bounce(reader.email)).status_code == 404
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.CONFIRMED


def test_other_events_and_unknown_addresses_change_nothing(client):
    reader = SubscriberFactory()
    delivered = {"RecordType": "Delivery", "Recipient": reader.email, "MessageID": "x"}
    assert report(client, delivered).status_code == 200
    assert report(client, bounce("stranger@example.com")).status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.CONFIRMED
    assert not Subscriber.objects.filter(email="stranger@example.com").exists()


def test_a_bounced_address_that_signs_up_again_starts_over_as_pending(client, sign_up):
    reader = SubscriberFactory(email="ada@example.com")
    report(client, bounce(reader.email))
    sign_up(email="ada@example.com")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.PENDING
    assert reader.undeliverable_reason == ""
