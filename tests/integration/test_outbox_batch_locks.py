"""A campaign sender meeting a row that another transaction holds for a moment."""

import threading
import time

import psycopg2
import pytest
from django.db import connection

from newsletter import services
from newsletter.models import Issue
from skilldacity.outbox.batch import email_claim_batch, email_send_batch
from skilldacity.outbox.models import Email
from tests.newsletter.conftest import IssueFactory, SubscriberFactory

pytestmark = pytest.mark.integration


def hold_row_lock(email_id, until_sent_id, locked):
    """Another sender's claim: PostgreSQL keeps the lock on a row its FOR UPDATE ... SKIP LOCKED
    looked at and then turned down (already claimed) until that claim commits. Held here until
    the batch has gone past the row."""
    other = psycopg2.connect(**connection.get_connection_params())
    other.autocommit = False
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT id FROM outbox_email WHERE id = %s FOR UPDATE", [email_id])
            locked.set()
            for _ in range(200):
                with other.cursor() as watch:
                    watch.execute("SELECT status FROM outbox_email WHERE id = %s", [until_sent_id])
                    if watch.fetchone()[0] == "sent":
                        break
                time.sleep(0.05)
        other.commit()
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_for_a_moment_goes_with_the_next_claim_not_after_the_sweeps_grace(
    smtp_server, monkeypatch
):
    monkeypatch.setattr(services.sends, "publish_senders", lambda *args, **kwargs: None)
    audience = SubscriberFactory.create_batch(5)
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue_batch(issue_id=issue.pk)
    issue = Issue.objects.get(pk=issue.pk)
    email_ids = email_claim_batch(key_prefix=issue.email_key_prefix, limit=5)
    locked = threading.Event()
    holder = threading.Thread(target=hold_row_lock, args=(email_ids[2], email_ids[3], locked))
    holder.start()
    try:
        assert locked.wait(10)
        outcomes = email_send_batch(email_ids=email_ids)
    finally:
        holder.join(15)

    assert (outcomes["sent"], outcomes["skipped"]) == (4, 1)
    # The next sender's turn sends it; before, it stayed claimed until the sweep's grace (two
    # minutes) ran out and a periodic resume came back: a 100,000-recipient bench stalled there.
    assert services.issue_send(issue_id=issue.pk, seconds=5) is None
    recipients = sorted(message["To"] for message in smtp_server.inbox.wait_for(5, timeout=10))
    assert recipients == sorted(subscriber.email for subscriber in audience)
    assert (
        Email.objects.filter(key__startswith=issue.email_key_prefix)
        .exclude(status=Email.Status.SENT)
        .count()
        == 0
    )
