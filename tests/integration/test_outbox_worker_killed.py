"""A worker SIGKILLed in the middle of an SMTP conversation: nothing lost, nothing doubled."""

from collections import Counter

from django.db import transaction

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_enqueue

from .conftest import FAST_OUTBOX_ENV


def test_worker_killed_while_smtp_server_is_answering_data_sends_every_row_once(
    celery_worker_factory, live_broker, smtp_server, smtp_data_started
):
    """The worker is killed after it handed over the whole message and while the server is
    still thinking about its answer to DATA. The server drops a message whose client went away
    before the reply (aiosmtpd does, as most MTAs do before they have queued it); PostgreSQL rolls
    the killed worker's claim back, and a new worker's beat sweep sends that row again. The SMTP
    inbox is the judge: every key exactly once, the in-flight one included."""
    smtp_server.inbox.delay = 5.0
    doomed = celery_worker_factory(name="doomed", extra_env=FAST_OUTBOX_ENV)
    keys = [f"killed-mid-send:{n}" for n in range(5)]
    with transaction.atomic():
        for key in keys:
            email_enqueue(key=key, to=f"{key.split(':')[1]}@example.com", template="test_message")

    assert smtp_data_started.wait(30), doomed.log()
    doomed.kill()
    smtp_server.inbox.delay = 0.0

    healer = celery_worker_factory(name="healer", beat=True, extra_env=FAST_OUTBOX_ENV)
    received = smtp_server.inbox.wait_for(len(keys), timeout=60)
    assert len(received) == len(keys), healer.log()
    # Several sweeps later there is still no second copy of anything.
    smtp_server.inbox.wait_for(len(keys) + 1, timeout=4)
    counts = Counter(m["X-Skilldacity-Key"] for m in smtp_server.inbox.messages)
    assert counts == dict.fromkeys(keys, 1)
    rows = Email.objects.filter(key__in=keys)
    assert {row.status for row in rows} == {Email.Status.SENT}
    by_key = {row.key: row for row in rows}
    assert {m["Message-ID"] for m in smtp_server.inbox.messages} == {
        by_key[m["X-Skilldacity-Key"]].message_id for m in smtp_server.inbox.messages
    }
