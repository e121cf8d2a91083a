from celery import shared_task
from django.conf import settings

from . import services


@shared_task(ignore_result=True)
def enqueue_issue(issue_id):
    """Queue an issue's e-mails in batches; hand over to a fresh task after a time slice, so no
    task runs near the time limit and the progress survives a worker restart."""
    if not services.issue_enqueue(issue_id=issue_id):
        enqueue_issue.delay(issue_id)


# acks_late: a sender killed mid-batch is redelivered; the rows it had claimed wait out the sweep
# grace and are claimed again, and the one it was sending is safe under its row lock.
@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_issue(issue_id):
    """Send an issue's queued e-mails in claimed batches over one SMTP connection per batch."""
    again = services.issue_send(issue_id=issue_id)
    if again is not None:
        services.publish_senders(issue_id, countdown=again)


@shared_task(ignore_result=True)
def resume_stalled_sends():
    """Periodic: restart enqueueing that a dead worker or a broker outage left half done, and
    bring senders back to e-mails that nobody is sending (after an SMTP outage, a lost task)."""
    for issue_id in services.stalled_sends():
        enqueue_issue.delay(issue_id)
    for issue_id in services.unsent_issues():
        services.publish_senders(issue_id, count=settings.NEWSLETTER_SENDERS)
