"""Commit, rollback and SMTP faults, through Redis, a real worker and a real SMTP server."""

import time
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_enqueue

from .conftest import FAST_OUTBOX_ENV


def enqueue(key, **kwargs):
    return email_enqueue(key=key, to="ada@example.com", template="test_message", **kwargs)


def wait_until(condition, timeout=30, describe=""):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {describe or condition}")
        time.sleep(0.1)


def keys_received(smtp_server):
    return Counter(m["X-Skilldacity-Key"] for m in smtp_server.inbox.messages)


def test_rolled_back_sends_nothing_committed_sends_once(celery_worker, live_broker, smtp_server):
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        enqueue("lead-ack:rolled-back")
        raise Abandoned
    with transaction.atomic():
        enqueue("lead-ack:committed")
        enqueue("lead-ack:committed")
    smtp_server.inbox.wait_for(1, timeout=30)
    smtp_server.inbox.wait_for(2, timeout=2)
    assert keys_received(smtp_server) == {"lead-ack:committed": 1}, celery_worker.log()
    assert list(Email.objects.values_list("key", flat=True)) == ["lead-ack:committed"]


@pytest.mark.parametrize("outage", ["server down", "451 try again"])
def test_smtp_outage_backs_off_then_delivers_once(
    outage, celery_worker_factory, live_broker, smtp_server
):
    worker = celery_worker_factory(extra_env=FAST_OUTBOX_ENV)
    if outage == "server down":
        smtp_server.stop()
    else:
        smtp_server.inbox.mode = "defer"
    with transaction.atomic():
        email = enqueue("lead-ack:outage")

    waits = []

    def retried_three_times():
        email.refresh_from_db()
        if email.attempts > len(waits):
            waits.append((email.attempts, email.send_after - email.last_attempt_at))
        return email.attempts >= 3

    wait_until(retried_three_times, describe=f"3 attempts\n{worker.log()}")
    assert email.status == Email.Status.PENDING
    expected = "Connection refused" if outage == "server down" else "451"
    assert expected in email.last_error
    assert smtp_server.inbox.messages == []

    if outage == "server down":
        smtp_server.start()
    else:
        smtp_server.inbox.mode = "accept"
    smtp_server.inbox.wait_for(1, timeout=30)
    smtp_server.inbox.wait_for(2, timeout=3)
    assert keys_received(smtp_server) == {"lead-ack:outage": 1}, worker.log()
    email.refresh_from_db()
    assert email.status == Email.Status.SENT and email.attempts >= 4
    assert email.last_error == ""
    # Each wait lies within its equal-jitter window, and the windows double.
    base, cap = 0.3, 1.5
    for attempt, wait in waits:
        ceiling = min(cap, base * 2 ** (attempt - 1))
        assert ceiling / 2 - 0.01 <= wait.total_seconds() <= ceiling + 0.01, waits


def test_permanent_5xx_is_failed_with_its_error_and_shown_in_admin(
    celery_worker, live_broker, smtp_server, client
):
    smtp_server.inbox.mode = "refuse"
    with transaction.atomic():
        email = enqueue("lead-ack:refused")

    def settled():
        email.refresh_from_db()
        return email.status != Email.Status.PENDING

    wait_until(settled, describe=f"a final status\n{celery_worker.log()}")
    assert (email.status, email.attempts) == (Email.Status.FAILED, 1)
    assert "550" in email.last_error and "Mailbox unavailable" in email.last_error
    assert smtp_server.inbox.messages == []

    staff = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-12345")
    client.force_login(staff)
    page = client.get(reverse("admin:outbox_email_changelist"), {"status__exact": "failed"})
    assert "Mailbox unavailable" in page.content.decode()
