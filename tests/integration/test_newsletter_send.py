"""An issue sent through Redis, a real Celery worker and a real SMTP server."""

import re
import time
from urllib.parse import urlsplit

import pytest
from django.test import Client

from newsletter import services
from newsletter.models import Issue, Subscriber
from newsletter.tasks import enqueue_issue
from tests.newsletter.conftest import IssueFactory, SubscriberFactory


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_send_resumes_on_a_new_worker_and_nobody_gets_two(
    celery_worker_factory, live_broker, smtp_server
):
    audience = SubscriberFactory.create_batch(30)
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    first_worker = celery_worker_factory(name="nl-first")

    services.issue_enqueue_batch(issue_id=issue.pk, batch_size=10)
    assert len(smtp_server.inbox.wait_for(10, timeout=30)) == 10, first_worker.log()
    # Killed once its ten sends are recorded: this test is about the lost batch position. A kill
    # between the SMTP server's "250 OK" and that record is the outbox's own drill
    # (test_outbox_worker_killed.py); here it made the last of the ten wait for the sweep.
    assert sent_count_reaches(issue, 10), first_worker.log()
    first_worker.kill()
    # The crash also lost the batch position: the resumed run starts from the first subscriber.
    Issue.objects.filter(pk=issue.pk).update(enqueued_through_id=0)

    second_worker = celery_worker_factory(name="nl-second")
    enqueue_issue.delay(issue.pk)
    received = smtp_server.inbox.wait_for(30, timeout=60)
    smtp_server.inbox.wait_for(31, timeout=2)  # give a duplicate the chance to show up

    recipients = sorted(m["To"] for m in smtp_server.inbox.messages)
    assert recipients == sorted(s.email for s in audience), second_worker.log()
    assert len(received) == 30
    issue.refresh_from_db()
    assert issue.status == Issue.Status.SENT
    # A send is recorded just after the SMTP server accepted it.
    assert sent_count_reaches(issue, 30), second_worker.log()

    message = smtp_server.inbox.messages[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"<([^>]+)>", str(message["List-Unsubscribe"])).group(1)
    response = Client(enforce_csrf_checks=True).post(
        urlsplit(link).path,
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Subscriber.objects.get(email=message["To"]).status == Subscriber.Status.UNSUBSCRIBED


def sent_count_reaches(issue, count, timeout=10):
    """Wait until exactly `count` of the issue's e-mails are recorded as sent."""
    deadline = time.monotonic() + timeout
    while True:
        sent = services.issue_progress(Issue.objects.get(pk=issue.pk))["sent"]
        if sent >= count or time.monotonic() > deadline:
            return sent == count
        time.sleep(0.1)
