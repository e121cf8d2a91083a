"""Two workers and two sweeps at once, every task published twice: still one e-mail per row."""

import threading
import time
from collections import Counter

from django.db import connection, transaction

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import outbox_sweep, publish_sends

from .conftest import FAST_OUTBOX_ENV

ROWS = 40


def test_two_workers_and_two_sweeps_send_each_row_once(
    celery_worker_factory, live_broker, smtp_server, fast_outbox
):
    """Rows left behind by an outage (no task on its way). Two sweeps run at the same instant
    while every row also gets two direct tasks, and two worker processes race for all of it."""
    smtp_server.inbox.delay = 0.02  # long enough for workers to overlap on the same rows
    workers = [celery_worker_factory(name=f"racer{n}", extra_env=FAST_OUTBOX_ENV) for n in range(2)]
    Email.objects.bulk_create(
        Email(key=f"race:{n}", to=f"r{n}@example.com", template="test_message", queued_at=None)
        for n in range(ROWS)
    )
    ids = list(Email.objects.values_list("pk", flat=True))
    start = threading.Barrier(2)
    handed_out = []

    def sweep():
        try:
            start.wait()
            handed_out.append(outbox_sweep())
        finally:
            connection.close()

    sweeps = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in sweeps:
        thread.start()
    publish_sends(ids)
    publish_sends(list(reversed(ids)))
    for thread in sweeps:
        thread.join(30)

    swept = [pk for batch in handed_out for pk in batch]
    # A row a worker is sending at the instant of a sweep is locked and left alone (its task has
    # it), so the sweeps may hand out fewer than all; never one row twice, and none not pending.
    assert len(swept) == len(set(swept)), "the two sweeps never hand out the same row"
    assert set(swept) <= set(ids) and swept, "the sweeps handed out the left-behind rows"
    received = smtp_server.inbox.wait_for(ROWS, timeout=60)
    assert len(received) == ROWS, [w.log() for w in workers]
    smtp_server.inbox.wait_for(ROWS + 1, timeout=3)
    counts = Counter(m["X-Skilldacity-Key"] for m in smtp_server.inbox.messages)
    assert counts == {f"race:{n}": 1 for n in range(ROWS)}
    assert set(Email.objects.values_list("status", "attempts")) == {(Email.Status.SENT, 1)}
    assert all("succeeded" in w.log() for w in workers), "both workers took part"


def test_a_slow_send_is_never_taken_over(celery_worker_factory, live_broker, smtp_server, settings):
    """No claim expires on a timer: while one worker waits on a slow SMTP server, sweeps with no
    grace at all and a second worker with its own task for the row all leave it alone."""
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    smtp_server.inbox.delay = 4.0
    slow = celery_worker_factory(name="slow", extra_env=FAST_OUTBOX_ENV)
    other = celery_worker_factory(name="other", extra_env=FAST_OUTBOX_ENV)
    email = Email.objects.create(key="slow:1", to="slow@example.com", template="test_message")
    publish_sends([email.pk])
    sweeps = []
    for _ in range(6):
        sweeps.append(outbox_sweep())
        publish_sends([email.pk])
        time.sleep(0.5)
    received = smtp_server.inbox.wait_for(1, timeout=30)
    smtp_server.inbox.wait_for(2, timeout=3)
    assert [m["X-Skilldacity-Key"] for m in received] == ["slow:1"], [slow.log(), other.log()]
    assert len(smtp_server.inbox.messages) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.SENT, 1)
    assert [] in sweeps, "some sweep ran while the row was locked and skipped it"


def test_the_same_key_asked_for_by_two_transactions_at_once_is_one_email(transactional_db):
    """The second INSERT waits for the first transaction, then finds the key taken."""
    from skilldacity.outbox.services import email_enqueue

    barrier = threading.Barrier(2)
    rows = []

    def ask():
        try:
            with transaction.atomic():
                barrier.wait()
                rows.append(
                    email_enqueue(key="lead-ack:twice", to="a@example.com", template="test_message")
                )
                time.sleep(0.2)  # hold the transaction so the other one has to wait on it
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert Email.objects.filter(key="lead-ack:twice").count() == 1
    assert len(rows) == 2 and rows[0].pk == rows[1].pk


def test_cancel_during_a_send_waits_for_it_and_answers_exactly(
    smtp_server, smtp_data_started, transactional_db
):
    """email_cancel never reports a cancel for an e-mail that is on its way: it waits for the
    sender's row lock, then finds the row sent and cancels nothing."""
    from skilldacity.outbox.services import email_cancel, email_send

    smtp_server.inbox.delay = 2.0
    email = Email.objects.create(key="follow-up:9", to="f@example.com", template="test_message")
    sending = threading.Thread(target=lambda: (email_send(email_id=email.pk), connection.close()))
    sending.start()
    try:
        assert smtp_data_started.wait(10), "the sender holds the row lock and is in DATA"
        assert email_cancel(keys=["follow-up:9"]) == 0
    finally:
        sending.join(30)
    email.refresh_from_db()
    assert email.status == Email.Status.SENT
    assert len(smtp_server.inbox.messages) == 1
