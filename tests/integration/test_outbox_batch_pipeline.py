"""The campaign sender on PostgreSQL builds each message while the database commits the last one's
"sent" mark and locks the next row (its own connection, asynchronous mode). What a visitor of the
inbox and staff in the admin must still see when a message cannot be built, or when the sender is
interrupted with a statement under way."""

import threading
import time

import psycopg2
import pytest
from django.db import connection, transaction

from newsletter import services
from newsletter.models import Issue
from skilldacity.outbox import batch
from skilldacity.outbox.batch import email_claim_batch, email_send_batch
from skilldacity.outbox.models import Email
from tests.newsletter.conftest import IssueFactory, SubscriberFactory

pytestmark = pytest.mark.integration


def claimed_issue_rows(count, monkeypatch):
    monkeypatch.setattr(services.sends, "publish_senders", lambda *args, **kwargs: None)
    audience = SubscriberFactory.create_batch(count)
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue_batch(issue_id=issue.pk)
    issue = Issue.objects.get(pk=issue.pk)
    email_ids = email_claim_batch(key_prefix=issue.email_key_prefix, limit=count)
    assert len(email_ids) == count
    return audience, email_ids


@pytest.mark.django_db(transaction=True)
def test_a_message_that_cannot_be_built_fails_for_good_and_its_neighbours_go_out_once(
    smtp_server, monkeypatch
):
    audience, email_ids = claimed_issue_rows(4, monkeypatch)
    broken = Email.objects.get(pk=email_ids[1])
    Email.objects.filter(pk=broken.pk).update(template="no_such_template")

    outcomes = email_send_batch(email_ids=email_ids)

    assert (outcomes[Email.Status.SENT], outcomes[Email.Status.FAILED]) == (3, 1)
    statuses = dict(Email.objects.filter(pk__in=email_ids).values_list("pk", "status"))
    assert [statuses[pk] for pk in email_ids] == ["sent", "failed", "sent", "sent"]
    broken.refresh_from_db()
    assert "TemplateDoesNotExist" in broken.last_error
    received = smtp_server.inbox.wait_for(3, timeout=10)
    smtp_server.inbox.wait_for(4, timeout=1)  # nothing more arrives
    assert sorted(m["To"] for m in smtp_server.inbox.messages) == sorted(
        subscriber.email for subscriber in audience if subscriber.email != broken.to
    )
    assert len(received) == 3
    assert sender_connections() == 0  # the batch's own connection went with it
    # Serialised ahead of sending, each is still the whole e-mail the row describes.
    rows = {row.to: row for row in Email.objects.filter(pk__in=email_ids)}
    for message in received:
        assert message["Message-ID"] == rows[message["To"]].message_id
        assert message["X-Skilldacity-Key"] == rows[message["To"]].key
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.get_body(("html",)) is not None
        assert message.get_body(("plain",)) is not None


def sender_connections():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [batch.SENDER_APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


class Interrupted(BaseException):
    """What a worker's shutdown or a time limit raises in the middle of whatever runs."""


def hold_table_share_lock(taken, seconds):
    """Another session's LOCK TABLE ... IN SHARE MODE: the sender's next UPDATE waits for it."""
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute("LOCK TABLE outbox_email IN SHARE MODE")
            taken.set()
            time.sleep(seconds)
        other.commit()
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_interrupted_while_the_database_holds_the_last_mark_keeps_that_mark_and_no_lock(
    smtp_server, monkeypatch
):
    _, email_ids = claimed_issue_rows(5, monkeypatch)
    real_build, real_send = batch.build_message, batch._send_built
    built, holders = [], []

    def send_then_stall_the_database(message, smtp):
        smtp = real_send(message, smtp)
        if len(built) == 2:
            # The second row's "sent" mark will wait in PostgreSQL behind this lock...
            taken = threading.Event()
            holders.append(threading.Thread(target=hold_table_share_lock, args=(taken, 1.5)))
            holders[0].start()
            assert taken.wait(10)
        return smtp

    def build_then_interrupt(email, **kwargs):
        built.append(email.pk)
        if len(built) == 3:
            raise Interrupted  # ...when the sender is interrupted.
        return real_build(email, **kwargs)

    monkeypatch.setattr(batch, "_send_built", send_then_stall_the_database)
    monkeypatch.setattr(batch, "build_message", build_then_interrupt)

    try:
        with pytest.raises(Interrupted):
            email_send_batch(email_ids=email_ids)
    finally:
        holders[0].join(15)

    statuses = dict(Email.objects.filter(pk__in=email_ids).values_list("pk", "status"))
    assert [statuses[pk] for pk in email_ids] == ["sent", "sent", "pending", "pending", "pending"]
    assert len(smtp_server.inbox.wait_for(2, timeout=10)) == 2
    # The sender's connection is gone with its locks: every row left can be taken at once.
    with transaction.atomic():
        assert (
            len(
                Email.objects.select_for_update(nowait=True)
                .filter(pk__in=email_ids[2:])
                .values_list("pk", flat=True)
            )
            == 3
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
        )
        assert cursor.fetchone()[0] == 0
    assert sender_connections() == 0
