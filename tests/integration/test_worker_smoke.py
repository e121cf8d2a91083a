"""The harness itself: a committed e-mail travels Redis -> real worker -> real SMTP, once."""

from django.db import transaction

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_enqueue


def test_committed_email_reaches_smtp_inbox_once(celery_worker, live_broker, smtp_server):
    with transaction.atomic():
        email_enqueue(
            key="smoke:1", to="grace@example.com", template="test_message", context={"name": "G"}
        )
    received = smtp_server.inbox.wait_for(1, timeout=30)
    assert len(received) == 1, celery_worker.log()
    assert received[0]["To"] == "grace@example.com"
    assert received[0]["X-Skilldacity-Key"] == "smoke:1"
    smtp_server.inbox.wait_for(2, timeout=1)
    assert len(smtp_server.inbox.messages) == 1
    email = Email.objects.get(key="smoke:1")
    assert email.status == Email.Status.SENT
