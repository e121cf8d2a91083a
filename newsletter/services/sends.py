"""Sending updates.

Updates go out as one outbox e-mail per recipient, keyed `newsletter:<issue>:<subscriber>`, so that
key is the delivery record: a resumed or repeated send finds the key taken and sends nobody a
second copy.
"""

import logging
import operator
import time
import uuid
from datetime import timedelta
from functools import reduce

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from skilldacity.outbox.batch import (
    email_claim_batch,
    email_send_batch,
    email_unclaimed_exists,
    refresh_planner_statistics,
)
from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_enqueue

from ..models import Issue, Subscriber
from .links import absolute_url, one_click_headers, unsubscribe_links

logger = logging.getLogger(__name__)


def issue_email_context(issue, *, first_name, unsubscribe_link):
    """Per-recipient context. The rendered body is looked up by issue id at send time (and
    cached per worker), so 100,000 rows do not each carry a copy of it."""
    return {
        "issue_id": issue.pk,
        "issue_version": issue.updated_at.isoformat(),
        "subject": issue.subject,
        "first_name": first_name,
        "unsubscribe_url": unsubscribe_link,
    }


def issue_send_test(*, issue, to, first_name=""):
    """Send this issue to one staff address, marked as a test. Returns the Email row."""
    sample_link = absolute_url(reverse("newsletter:unsubscribe", args=["test-send"]))
    context = issue_email_context(issue, first_name=first_name, unsubscribe_link=sample_link)
    context["subject"] = f"[Test] {issue.subject}"
    with transaction.atomic():
        return email_enqueue(
            key=f"newsletter-test:{issue.pk}:{uuid.uuid4().hex}",
            to=to,
            template="newsletter_issue",
            context=context,
            headers=one_click_headers(sample_link),
        )


def issue_start_send(*, issue_id, now=None):
    """Fix the recipients and mark the issue as sending. Starting again resumes; a sent issue
    stays sent. Returns the Issue; the caller schedules `enqueue_issue`."""
    now = now or timezone.now()
    with transaction.atomic():
        issue = Issue.objects.select_for_update().get(pk=issue_id)
        if issue.status == Issue.Status.DRAFT:
            confirmed = Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED)
            last = confirmed.order_by("-pk").values_list("pk", flat=True).first() or 0
            issue.status = Issue.Status.SENDING
            issue.recipients_cutoff_id = last
            issue.recipients_total = confirmed.filter(pk__lte=last).count()
            issue.send_started_at = now
            issue.enqueue_heartbeat_at = now
            issue.save()
    return issue


def issue_enqueue_batch(*, issue_id, batch_size=None, now=None):
    """Queue e-mails for the next batch of recipients. Returns how many it queued (0: done).

    One INSERT per batch (rows whose key exists already are skipped), and the batch and the
    issue's position commit together, so a worker dying anywhere in here costs nothing but the
    retry. Memory is bounded by the batch: ids are walked in order, never loaded all at once.
    After the commit one sender is asked for; it claims whatever is queued, this batch or not.
    """
    batch_size = batch_size or settings.NEWSLETTER_SEND_BATCH_SIZE
    now = now or timezone.now()
    with transaction.atomic():
        issue = Issue.objects.select_for_update().filter(pk=issue_id).first()
        if issue is None or issue.status != Issue.Status.SENDING:
            return 0
        recipients = list(
            Subscriber.objects.filter(
                status=Subscriber.Status.CONFIRMED,
                pk__gt=issue.enqueued_through_id,
                pk__lte=issue.recipients_cutoff_id,
            )
            .order_by("pk")
            .values_list("pk", "email", "first_name", "token_nonce")[:batch_size]
        )
        link = unsubscribe_links()
        Email.objects.bulk_create(
            (_issue_email(issue, recipient, link, now) for recipient in recipients),
            batch_size=batch_size,
            ignore_conflicts=True,
        )
        if recipients:
            issue.enqueued_through_id = recipients[-1][0]
            transaction.on_commit(lambda: publish_senders(issue_id))
        else:
            issue.status = Issue.Status.SENT
            issue.enqueued_at = now
        issue.enqueue_heartbeat_at = now
        issue.save(
            update_fields=["enqueued_through_id", "status", "enqueued_at", "enqueue_heartbeat_at"]
        )
    return len(recipients)


def _issue_email(issue, recipient, unsubscribe_link, now):
    subscriber_id, address, first_name, nonce = recipient
    link = unsubscribe_link(subscriber_id=subscriber_id, nonce=nonce)
    # queued_at equal to send_after: due and unclaimed, for the batch senders (see outbox.batch);
    # the sweep leaves it alone for its grace, since senders are on their way.
    return Email(
        key=issue.email_key(subscriber_id),
        to=address,
        template="newsletter_issue",
        context=issue_email_context(issue, first_name=first_name, unsubscribe_link=link),
        headers=one_click_headers(link),
        send_after=now,
        queued_at=now,
        created_at=now,
    )


def issue_enqueue(*, issue_id, seconds=None, progress=None):
    """Run batches until the issue is fully queued or `seconds` pass. Returns True when done."""
    if seconds is None:
        seconds = settings.NEWSLETTER_ENQUEUE_TASK_SECONDS
    deadline = time.monotonic() + seconds
    batches = 0
    while True:
        queued = issue_enqueue_batch(issue_id=issue_id)
        if progress:
            progress(queued)
        batches += 1
        if not queued or batches & (batches - 1) == 0:
            # After batches 1, 2, 4, 8...: the senders' claims plan on row counts at most half
            # out of date, at a cost of a dozen ANALYZEs for 100,000 recipients.
            refresh_planner_statistics()
        if not queued:
            return True
        if time.monotonic() >= deadline:
            return False


# --- Sending what is queued ----------------------------------------------------------------

RATE_WINDOW = timedelta(minutes=1)


def claim_size():
    return int(settings.NEWSLETTER_SEND_CLAIM_SIZE)


def send_rate(issue):
    """E-mails per minute this issue may go out at (0: as fast as the workers go)."""
    if issue.send_rate_per_minute is not None:
        return issue.send_rate_per_minute
    return int(settings.NEWSLETTER_SEND_RATE_PER_MINUTE)


def issue_claim(*, issue_id, after_id=None, now=None):
    """Reserve the next batch of this issue's queued e-mails for one sender, within its rate.

    Returns (email ids, seconds to wait): with a rate set, claims are counted per one-minute
    window on the issue row, which every sender locks for its claim, so the limit holds across
    all workers; a full window answers no ids and the seconds until it ends. `after_id`: the
    sender's position (see `email_claim_batch`); past the end, the stragglers are claimed.
    """
    now = now or timezone.now()
    rate_fields = ["send_rate_per_minute", "rate_window_started_at", "rate_window_claimed"]
    issue = Issue.objects.only(*rate_fields).filter(pk=issue_id).first()
    if issue is None:
        return [], 0
    prefix = issue.email_key_prefix
    if not send_rate(issue):
        return _claim(prefix, claim_size(), after_id, now), 0
    with transaction.atomic():
        issue = Issue.objects.select_for_update().only(*rate_fields).get(pk=issue_id)
        window_start = issue.rate_window_started_at
        if window_start is None or now >= window_start + RATE_WINDOW:
            issue.rate_window_started_at, issue.rate_window_claimed = now, 0
        allowance = min(claim_size(), send_rate(issue) - issue.rate_window_claimed)
        if allowance <= 0:
            wait = issue.rate_window_started_at + RATE_WINDOW - now
            return [], max(wait.total_seconds(), 0.1)
        email_ids = _claim(prefix, allowance, after_id, now)
        issue.rate_window_claimed += len(email_ids)
        issue.save(update_fields=["rate_window_started_at", "rate_window_claimed"])
    return email_ids, 0


def _claim(prefix, limit, after_id, now):
    email_ids = email_claim_batch(key_prefix=prefix, limit=limit, now=now, after_id=after_id)
    if not email_ids and after_id:
        email_ids = email_claim_batch(key_prefix=prefix, limit=limit, now=now)
    return email_ids


def issue_send(*, issue_id, seconds=None):
    """One sender's turn: claim and send batches until nothing is left or `seconds` pass.

    Returns None when done (nothing to claim, or a temporary SMTP failure: the failed e-mail has
    its own retry and `resume_sends` brings senders back for the rest), else the seconds after
    which a sender should carry on (0: its time slice is over; more: the rate limit's window).
    """
    if seconds is None:
        seconds = settings.NEWSLETTER_SEND_TASK_SECONDS
    deadline = time.monotonic() + seconds
    position = None
    while True:
        email_ids, wait = issue_claim(issue_id=issue_id, after_id=position)
        if wait:
            return wait
        if not email_ids:
            return None
        position = max(email_ids)
        outcomes = email_send_batch(email_ids=email_ids)
        if outcomes[Email.Status.PENDING]:
            return None
        if time.monotonic() >= deadline:
            return 0


def publish_senders(issue_id, *, count=1, countdown=None):
    """Ask for `count` senders of this issue. A broker outage loses nothing: `resume_sends`
    finds the unclaimed e-mails and asks again."""
    from ..tasks import send_issue

    if send_issue.app.conf.task_always_eager:
        if countdown:
            return  # inline mode has no timer: `resume_sends` carries on
        for _ in range(count):
            send_issue.apply(args=(issue_id,))
        return
    try:
        for _ in range(count):
            send_issue.apply_async((issue_id,), countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - a broker outage must not fail the caller
        logger.warning("Broker unreachable (%s); resume_sends will send issue %s", exc, issue_id)


def unsent_issues(*, now=None):
    """Ids of issues started in the last week with queued e-mails that no sender holds."""
    now = now or timezone.now()
    recent = Issue.objects.filter(
        status__in=[Issue.Status.SENDING, Issue.Status.SENT],
        send_started_at__gte=now - timedelta(days=7),
    ).only("pk")
    return [
        issue.pk
        for issue in recent
        if email_unclaimed_exists(key_prefix=issue.email_key_prefix, now=now)
    ]


def issues_progress(issues):
    """{issue id: counts of its e-mails by outbox status, plus the total to reach}, in one query.

    Each issue's rows are found by a constant key prefix, which PostgreSQL answers from the
    unique key's pattern index; one OR-ed query serves a whole admin page of issues.
    """
    issues = [issue for issue in issues if issue.status != Issue.Status.DRAFT]
    counts = {issue.pk: {} for issue in issues}
    if issues:
        matches = [(issue.pk, Q(key__startswith=issue.email_key_prefix)) for issue in issues]
        rows = (
            Email.objects.filter(reduce(operator.or_, (match for _, match in matches)))
            .annotate(issue_id=Case(*(When(match, then=Value(pk)) for pk, match in matches)))
            .values_list("issue_id", "status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for issue_id, status, n in rows:
            counts[issue_id][status] = n
    return {issue.pk: _progress(issue, counts[issue.pk]) for issue in issues}


def _progress(issue, counts):
    queued = sum(counts.values())
    total = queued if issue.status == Issue.Status.SENT else max(issue.recipients_total, queued)
    return {
        "total": total,
        "queued": queued,
        "sent": counts.get(Email.Status.SENT, 0),
        "failed": counts.get(Email.Status.FAILED, 0),
        "cancelled": counts.get(Email.Status.CANCELLED, 0),
    }


def issue_progress(issue):
    if issue.status == Issue.Status.DRAFT:
        return _progress(issue, {})
    return issues_progress([issue])[issue.pk]


def stalled_sends(*, now=None):
    """Issues whose enqueueing stopped (a worker died, the broker was down): ids to resume."""
    now = now or timezone.now()
    return list(
        Issue.objects.filter(
            status=Issue.Status.SENDING, enqueue_heartbeat_at__lt=now - timedelta(minutes=2)
        ).values_list("pk", flat=True)
    )
