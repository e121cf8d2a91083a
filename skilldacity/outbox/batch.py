"""Sending many outbox rows over one SMTP connection, for campaigns.

A task and an SMTP connection per e-mail cost more than the e-mail itself when 100,000 go out at
once. Here a sender claims a batch of rows and sends them over one connection, but each message
still follows `email_send`'s protocol: its own transaction holds that row's lock from the check
that it is still pending until "sent" is written right after the server's "250". So the batch
changes the cost, not the guarantee: a killed sender loses at most the one message in flight
(exactly as `email_send` does), and two senders, or a sender and the sweep's single-row tasks,
never send one row twice.

The claim itself is only a reservation: it stamps `queued_at` (the outbox's "a task has it"
mark), so other batch senders and the sweep leave those rows alone for the sweep grace. A killed
sender's unsent rows are free again once that grace has passed.

A row counts as unclaimed while its `queued_at` is not after its `send_after`: rows written for a
batch sender carry the two equal, a claim moves `queued_at` on, and a retry after a temporary
failure sets both to the retry time again.
"""

import logging
from collections import Counter

from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import Email
from .services import (
    CLOCK_TOLERANCE,
    _close_quietly,
    _provider_message_id,
    _record_failure,
    build_message,
    sweep_grace,
)

logger = logging.getLogger(__name__)


def _unclaimed():
    return Q(queued_at__isnull=True) | Q(queued_at__lte=F("send_after"))


def email_unclaimed_exists(*, key_prefix, now=None):
    """Is any due row with this key prefix waiting for a batch sender?"""
    return Email.objects.due(now).filter(_unclaimed(), key__startswith=key_prefix).exists()


def email_claim_batch(*, key_prefix, limit, now=None):
    """Reserve up to `limit` due, unclaimed pending rows whose key starts with `key_prefix`.
    Returns their ids. Rows another transaction has locked are skipped, not waited for."""
    now = now or timezone.now()
    if limit <= 0:
        return []
    with transaction.atomic():
        email_ids = list(
            Email.objects.due(now)
            .filter(key__startswith=key_prefix)
            .filter(_unclaimed() | Q(queued_at__lte=now - sweep_grace()))
            # The (status, send_after) index walks only pending rows; ordering by id would walk
            # the sent rows too, on every claim.
            .order_by("send_after")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        Email.objects.filter(pk__in=email_ids).update(queued_at=now)
    return email_ids


def email_release(*, email_ids):
    """Hand rows a sender claimed but will not send back to the next claim."""
    return Email.objects.filter(pk__in=list(email_ids), status=Email.Status.PENDING).update(
        queued_at=F("send_after")
    )


def email_send_batch(*, email_ids):
    """Send these rows over one SMTP connection. Returns a Counter of outcomes: sent, failed,
    pending (a temporary failure, retried with backoff), skipped (not due or not pending any
    more, or another sender holds it) and released.

    A temporary failure (server gone, refused, timed out) ends the batch: the rest would most
    likely meet the same outage, each after a timeout, so they are released for a later claim.
    """
    email_ids = list(email_ids)
    outcomes = Counter()
    connection = None
    try:
        for position, email_id in enumerate(email_ids):
            outcome, connection = _send_one(email_id, connection)
            outcomes[outcome] += 1
            if outcome == Email.Status.PENDING:
                if connection is not None:
                    _close_quietly(connection)
                    connection = None
                outcomes["released"] = email_release(email_ids=email_ids[position + 1 :])
                break
    finally:
        if connection is not None:
            _close_quietly(connection)
    return outcomes


def _send_one(email_id, connection):
    """`email_send` for one row on a shared connection. Returns (outcome, connection)."""
    now = timezone.now()
    with transaction.atomic():
        email = (
            Email.objects.select_for_update(skip_locked=True)
            .filter(pk=email_id, status=Email.Status.PENDING, send_after__lte=now + CLOCK_TOLERANCE)
            .first()
        )
        if email is None:
            return "skipped", connection
        attempts = email.attempts + 1
        try:
            message = build_message(email)
            if connection is None:
                connection = get_connection(fail_silently=False)
                connection.open()
            if connection.send_messages([message]) != 1:
                raise RuntimeError("the e-mail backend reported that nothing was sent")
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
            return _record_failure(email, exc, attempts, now), connection
        Email.objects.filter(pk=email.pk).update(
            status=Email.Status.SENT,
            attempts=attempts,
            last_attempt_at=now,
            sent_at=timezone.now(),
            last_error="",
            provider_message_id=_provider_message_id(message),
        )
        return Email.Status.SENT, connection
