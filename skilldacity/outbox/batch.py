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
from contextlib import suppress

import psycopg2
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from psycopg2.extras import wait_select

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


def email_claim_batch(*, key_prefix, limit, now=None, after_id=None):
    """Reserve up to `limit` due, unclaimed pending rows whose key starts with `key_prefix`.
    Returns their ids. Rows another transaction has locked are skipped, not waited for.

    `after_id`: only rows with a greater id, in id order. A sender that passes the largest id of
    its previous claim walks the primary key from there, instead of filtering every pending row
    of the campaign on each claim; without it, any unclaimed rows are taken (the stragglers a
    sender left behind: released after an outage, or claimed by a killed one).
    """
    now = now or timezone.now()
    if limit <= 0:
        return []
    rows = (
        Email.objects.due(now)
        .filter(key__startswith=key_prefix)
        .filter(_unclaimed() | Q(queued_at__lte=now - sweep_grace()))
    )
    rows = rows.filter(pk__gt=after_id).order_by("pk") if after_id else rows.order_by()
    with transaction.atomic():
        email_ids = list(
            rows.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
        )
        Email.objects.filter(pk__in=email_ids).update(queued_at=now)
    return email_ids


def refresh_planner_statistics():
    """ANALYZE the outbox after a campaign's bulk inserts (PostgreSQL; elsewhere nothing).

    Until autovacuum gets round to it, PostgreSQL believes the few pending rows it last counted
    and answers each claim by gathering every pending row of the campaign and sorting them: 75 to
    124 ms a claim of 100 with 70,000 queued, instead of 0.25 ms walking outbox_pending_id_idx.
    """
    connection = connections["default"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE outbox_email")


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
    # The rows' content is read once for the batch; whether each is still pending is checked
    # under its lock, right before it is sent.
    emails = Email.objects.in_bulk(email_ids)
    send_one = _PipelinedSender() if _can_use_raw_transactions() else _send_one
    outcomes = Counter()
    skipped = []
    smtp = None
    try:
        for position, email_id in enumerate(email_ids):
            email = emails.get(email_id)
            outcome, smtp = send_one(email, smtp) if email is not None else ("skipped", smtp)
            outcomes[outcome] += 1
            if outcome == "skipped":
                skipped.append(email_id)
            if outcome == Email.Status.PENDING:
                if smtp is not None:
                    _close_quietly(smtp)
                    smtp = None
                outcomes["released"] = email_release(email_ids=email_ids[position + 1 :])
                break
    finally:
        try:
            if send_one is not _send_one:
                send_one.close()  # the last "sent" mark commits before the QUIT below
        finally:
            if smtp is not None:
                _close_quietly(smtp)
    if skipped:
        # A row skipped while still pending was locked for a moment by another transaction:
        # PostgreSQL keeps the lock on every row a concurrent claim's FOR UPDATE ... SKIP LOCKED
        # looked at, taken or not, until that claim commits. Left claimed, it would wait out the
        # sweep's grace; handed back, the next claim sends it. (A single-row sender holding it
        # records its own outcome: this waits for that, then finds the row no longer pending.)
        outcomes["released"] += email_release(email_ids=skipped)
    return outcomes


def _send_built(message, smtp):
    """Send one message on `smtp`, opening it on first use. Returns smtp."""
    if smtp is None:
        smtp = get_connection(fail_silently=False)
        smtp.open()
    if smtp.send_messages([message]) != 1:
        raise RuntimeError("the e-mail backend reported that nothing was sent")
    return smtp


def _locked_attempts(email, now):
    return (
        Email.objects.select_for_update(skip_locked=True)
        .filter(pk=email.pk, status=Email.Status.PENDING, send_after__lte=now + CLOCK_TOLERANCE)
        .values_list("attempts", flat=True)
        .first()
    )


def _send_one(email, smtp):
    """`email_send` for one row on a shared connection. Returns (outcome, smtp)."""
    now = timezone.now()
    with transaction.atomic():
        attempts = _locked_attempts(email, now)
        if attempts is None:
            return "skipped", smtp
        attempts += 1
        try:
            message = build_message(email)
            smtp = _send_built(message, smtp)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
            return _record_failure(email, exc, attempts, now), smtp
        Email.objects.filter(pk=email.pk).update(**_sent_fields(attempts, now, message))
    return Email.Status.SENT, smtp


def _sent_fields(attempts, now, message):
    return {
        "status": Email.Status.SENT,
        "attempts": attempts,
        "last_attempt_at": now,
        "sent_at": timezone.now(),
        "last_error": "",
        "provider_message_id": _provider_message_id(message),
    }


def _can_use_raw_transactions():
    connection = connections["default"]
    return connection.vendor == "postgresql" and not connection.in_atomic_block


# The same protocol as `_send_one` in one round trip per message instead of four: right after the
# server's "250", one statement marks the row sent, commits, and begins the next row's transaction
# with its lock. The commit does not wait for the disk (synchronous_commit off): the row lock
# already orders senders, and what a crash of the database server itself (not of a worker) could
# lose is the last fraction of a second of "sent" marks, sent again with the same Message-ID: the
# window `email_send` already has between "250" and COMMIT.
_LOCK_SQL = (
    # SET LOCAL, not a session setting: behind a transaction-pooling proxy (PgBouncer) the
    # session is shared with other clients.
    "BEGIN; SET LOCAL synchronous_commit TO OFF; "
    "SELECT attempts FROM outbox_email WHERE id = %s AND status = 'pending' AND send_after <= %s "
    "FOR UPDATE SKIP LOCKED"
)
_SENT_SQL = (
    "UPDATE outbox_email SET status = %s, attempts = %s, last_attempt_at = %s, sent_at = %s, "
    "last_error = %s, provider_message_id = %s WHERE id = %s; COMMIT; "
)


class _SerialisedAhead(EmailMultiAlternatives):
    """An e-mail whose MIME form is built once, ahead of sending (`serialise`), so that the
    batch sender can do it while the database works on the row's lock."""

    _serialised = None

    def serialise(self):
        self._serialised = _SerialisedMIME(super().message())

    def message(self):
        return self._serialised or super().message()


class _SerialisedMIME:
    """A MIME message with its SMTP wire form (CRLF line ends) computed once; the SMTP backend
    asks for `message().as_bytes(linesep="\r\n")`, and that is most of the cost of an e-mail."""

    def __init__(self, mime):
        self._mime = mime
        self._wire = mime.as_bytes(linesep="\r\n")

    def as_bytes(self, unixfrom=False, linesep="\n"):
        if not unixfrom and linesep == "\r\n":
            return self._wire
        return self._mime.as_bytes(unixfrom, linesep=linesep)

    def __getitem__(self, name):
        return self._mime[name]

    def __getattr__(self, name):
        return getattr(self._mime, name)


SENDER_APPLICATION_NAME = "skilldacity batch sender"


class _PipelinedSender:
    """`_send_one` on PostgreSQL, each row's outcome committed together with the next row's lock.

    The statements go over a connection of the sender's own in psycopg2's asynchronous mode:
    while PostgreSQL commits one row and locks the next, this process builds and serialises the
    next message, instead of waiting for the one and then doing the other. (Measured with the
    newsletter bench: each was about a third of a millisecond of the two a message takes.)
    A killed sender's connection ends with it, and PostgreSQL rolls its open lock back.
    """

    def __init__(self):
        params = connections["default"].get_connection_params()
        params.pop("cursor_factory", None)  # Django's choice for its own connection
        # Named, so that an operator can tell it in pg_stat_activity (and a test can count it).
        params.setdefault("application_name", SENDER_APPLICATION_NAME)
        self.connection = psycopg2.connect(**params, async_=True)
        try:
            wait_select(self.connection)
            self.cursor = self.connection.cursor()
        except BaseException:
            self.connection.close()
            raise
        self.finish, self.finish_params = "", []

    def _execute(self, sql, params=None):
        self.cursor.execute(sql, params)
        wait_select(self.connection)

    def __call__(self, email, smtp):
        now = timezone.now()
        try:
            # Returns at once: PostgreSQL runs it while the message is built below.
            self.cursor.execute(
                self.finish + _LOCK_SQL, [*self.finish_params, email.pk, now + CLOCK_TOLERANCE]
            )
            try:
                message = build_message(email, message_class=_SerialisedAhead)
                message.serialise()
            except Exception as exc:  # noqa: BLE001 - recorded below if the row is still ours
                message, failure = None, exc
            wait_select(self.connection)
            self.finish, self.finish_params = "", []  # committed ahead of the lock
            row = self.cursor.fetchone()
            if row is None:
                self.finish = "ROLLBACK; "
                return "skipped", smtp
            attempts = row[0] + 1
            if message is not None:
                try:
                    smtp = _send_built(message, smtp)
                except Exception as exc:  # noqa: BLE001 - recorded below, under a fresh lock
                    failure = exc
                else:
                    self.finish = _SENT_SQL
                    self.finish_params = [*_sent_fields(attempts, now, message).values(), email.pk]
                    return Email.Status.SENT, smtp
            self._execute("ROLLBACK")
        except BaseException:
            self._stop()
            raise
        with transaction.atomic():
            # Another sender may have taken the row since the ROLLBACK: then it is theirs.
            if _locked_attempts(email, now) is None:
                return "skipped", smtp
            return _record_failure(email, failure, attempts, now), smtp

    def _stop(self):
        """Interrupted (a time limit, a lost connection): end the statement under way and roll
        back, so that `close` can still write the last "sent" mark if that statement was cut
        short before its COMMIT. Writing it twice changes nothing."""
        try:
            if self.connection.isexecuting():
                self.connection.cancel()
                with suppress(psycopg2.Error):  # the cancelled statement's error
                    wait_select(self.connection)
            self._execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the connection is gone: PostgreSQL rolled back itself
            logger.warning("A batch sender's connection failed", exc_info=True)
            self.finish, self.finish_params = "", []
            self.connection.close()

    def close(self):
        try:
            if self.finish and not self.connection.closed:
                self._execute(self.finish, self.finish_params)
        finally:
            self.finish, self.finish_params = "", []
            self.connection.close()  # rolls back whatever is still open
