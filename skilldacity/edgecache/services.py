"""Purge the HTTP caches in front of the site when its content changes.

The e-mail outbox's mechanics (skilldacity.outbox.services): `purge_enqueue` records a row in the
caller's transaction and hands a task to Celery after commit; a failed purge (proxy down, API
answering 500) is retried with the outbox's backoff and never fails the caller; the sweep hands out
rows whose task was lost (broker down, worker killed). Unlike an e-mail, a purge may run twice
without harm, so a sender simply takes every due row at once and purges their keys in one go.

With no EDGE_CACHE_BACKENDS (the default, `make run`) nothing is recorded.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from skilldacity.outbox.services import (
    CLOCK_TOLERANCE,
    backoff_delay,
    hand_out_due,
    hand_out_now,
    max_attempts,
    publish_tasks,
)

from .backends import get_backends
from .models import Purge

logger = logging.getLogger(__name__)

# Rows one sender takes at once: every change since the last purge, whatever they were.
BATCH = 500


def enabled():
    return bool(settings.EDGE_CACHE_BACKENDS)


def purge_enqueue(*, keys, reason=""):
    """Record a purge of these surrogate keys; it runs after the surrounding transaction commits."""
    if not enabled() or not keys:
        return None
    now = timezone.now()
    purge = Purge.objects.create(keys=sorted(set(keys)), reason=reason[:200], queued_at=now)
    transaction.on_commit(lambda: publish_purges([purge.pk]))
    return purge


def purge_retry(*, ids):
    """The admin's "retry now": pending or failed rows get another attempt. Returns how many."""
    rows = Purge.objects.filter(
        pk__in=list(ids), status__in=[Purge.Status.PENDING, Purge.Status.FAILED]
    )
    return hand_out_now(rows, publish_purges)


def publish_purges(purge_ids, *, countdown=None):
    from .tasks import send_purge

    return publish_tasks(send_purge, purge_ids, countdown=countdown, leave_to_sweep=_leave_to_sweep)


def _leave_to_sweep(purge_ids):
    Purge.objects.filter(pk__in=purge_ids, status=Purge.Status.PENDING).update(queued_at=None)


def purge_sweep(*, now=None):
    now = now or timezone.now()
    return hand_out_due(Purge.objects.due(now), publish_purges, now=now)


def purge_send(*, purge_id=None):
    """Purge every due row's keys from every backend. Returns the new status of the rows taken,
    or None when there was nothing to do (`purge_id` done, or another sender has the rows)."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Purge.objects.due(now + CLOCK_TOLERANCE)
            .select_for_update(skip_locked=True)
            .order_by("created_at")[:BATCH]
        )
        if not rows:
            return None
        keys = sorted({key for row in rows for key in row.keys})
        try:
            for backend in get_backends().values():
                backend.purge(keys)
        except Exception as exc:  # noqa: BLE001 - recorded on the rows, retried, shown to staff
            return _record_failure(rows, exc, now)
        Purge.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Purge.Status.DONE, done_at=timezone.now(), last_attempt_at=now, last_error=""
        )
        return Purge.Status.DONE


def _record_failure(rows, exc, now):
    error = f"{type(exc).__name__}: {exc}"[:2000]
    attempts = max(row.attempts for row in rows) + 1
    ids = [row.pk for row in rows]
    if attempts >= max_attempts():
        Purge.objects.filter(pk__in=ids).update(
            status=Purge.Status.FAILED, attempts=attempts, last_error=error, last_attempt_at=now
        )
        logger.error("Edge cache purge failed for good after %s attempt(s): %s", attempts, error)
        return Purge.Status.FAILED
    delay = backoff_delay(attempts)
    retry_at = now + timedelta(seconds=delay)
    Purge.objects.filter(pk__in=ids).update(
        attempts=attempts,
        last_error=error,
        last_attempt_at=now,
        send_after=retry_at,
        queued_at=retry_at,
    )
    transaction.on_commit(lambda: publish_purges(ids[:1], countdown=delay))
    logger.warning("Edge cache purge attempt %s failed, retry in %.1fs: %s", attempts, delay, error)
    return Purge.Status.PENDING
