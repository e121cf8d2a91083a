"""Thin Celery wrappers around the outbox services."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_email(email_id):
    return services.email_send(email_id=email_id)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_emails(email_ids):
    """The e-mails of one transaction, from one publish. Sending is idempotent per row, so a
    redelivery after a lost worker sends only what was not sent yet."""
    for email_id in email_ids:
        services.email_send(email_id=email_id)


@shared_task(ignore_result=True)
def hand_out_waiting():
    """Woken after a commit that recorded e-mails (services.wake_senders)."""
    return len(services.outbox_hand_out_waiting())


@shared_task(ignore_result=True)
def sweep_outbox():
    return len(services.outbox_sweep())
