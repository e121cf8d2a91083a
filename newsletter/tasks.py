from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def enqueue_issue(issue_id):
    """Queue an issue's e-mails in batches; hand over to a fresh task after a time slice, so no
    task runs near the time limit and the progress survives a worker restart."""
    if not services.issue_enqueue(issue_id=issue_id):
        enqueue_issue.delay(issue_id)


@shared_task(ignore_result=True)
def resume_stalled_sends():
    """Periodic: restart enqueueing that a dead worker or a broker outage left half done."""
    for issue_id in services.stalled_sends():
        enqueue_issue.delay(issue_id)
