"""The one way the site sends e-mail.

`email_enqueue` records the e-mail in the caller's transaction and hands a send task to Celery after
commit (inline when there is no broker). Rolled back: nothing is sent.

Exactly once, as far as SMTP allows. A sender claims a row with `SELECT ... FOR UPDATE SKIP LOCKED`
and keeps that row lock, in one transaction, until the SMTP server has answered and the outcome is
written. So:

- two workers, two sweeps, a redelivered task: only the lock holder sends, the others skip the row;
- a killed worker never leaves a stale claim behind that someone must guess about: PostgreSQL ends
  its session, rolls the claim back, and the row is plain pending again for the sweep; a worker that
  is merely slow keeps its lock, so nobody sends its row a second time on a timer;
- the row is marked sent in the same transaction, right after the server's "250" to DATA and before
  QUIT, so the only duplicate window left is a crash between that reply and the COMMIT (see
  `email_send`). The Message-ID is fixed when the row is created, so even then the two copies carry
  the same Message-ID, which mailbox providers use to drop the second.

Handing out. A row is written with no task (`queued_at` empty). After the commit the web process
wakes the senders: it publishes one `hand_out_waiting` task, unless one is already on its way, which
then hands out this row too (`wake_senders`). That task, in a worker, gives the rows with no task
to the send tasks, locking and stamping them as the sweep does. So a form post costs one Redis
command, not a publish (a millisecond of the web process's CPU, the largest single part of a lead
post; bench/leads_submit.py).

The periodic sweep (Celery beat) hands out whatever is due and has no live task: rows written while
the broker was down, rows of a killed worker, scheduled follow-ups (`send_after` in the future).
"""

import logging
import random
import smtplib
import time
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils import timezone

from skilldacity.statements import insert_statement, run_together

from .models import Email

logger = logging.getLogger(__name__)

# A task may run a moment before its row's send_after when worker clocks drift; without this
# tolerance it would find the row "not due" and leave it to the sweep, a grace period later.
CLOCK_TOLERANCE = timedelta(seconds=2)

# E-mails one task sends in turn, when the e-mails of one transaction are published together:
# small, so that a batch stays well inside the task time limit even against a slow SMTP server.
TASK_BATCH = 10

# After a failed publish this process stops trying for a while: during a broker outage only the
# first request pays the bounded connection timeout, the others leave their rows to the sweep.
_publish_paused_until = 0.0

# Set (in the shared cache) while a hand_out_waiting task is on its way, cleared when it starts.
# It expires in case that task is lost: the next commit then wakes the senders again.
WAKE_KEY = "outbox:wake"
WAKE_SECONDS = 5


# True while demo content is loaded: its visitors and staff inbox are made up, and nobody may be
# e-mailed (see `outbox_muted`).
_muted = ContextVar("outbox_muted", default=False)


@contextmanager
def outbox_muted():
    """Within this block `email_enqueue` records and sends nothing (for `seed_demo`: with a real
    SMTP server configured it used to e-mail the demo visitors and the staff inbox)."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


def max_attempts():
    return int(settings.OUTBOX_MAX_ATTEMPTS)


def sweep_grace():
    return timedelta(seconds=float(settings.OUTBOX_SWEEP_GRACE_SECONDS))


def email_enqueue(*, key, to, template, context=None, send_after=None, headers=None):
    """Record an e-mail and send it after the surrounding transaction commits.

    Idempotent on `key`: asking twice for the same e-mail returns the first row. With `send_after`
    in the future the e-mail waits for the sweep; `email_cancel` can still stop it.
    """
    message = {"key": key, "to": to, "template": template, "context": context}
    return email_enqueue_many([{**message, "send_after": send_after, "headers": headers}])[0]


def email_enqueue_many(messages, *, together_with=()):
    """`email_enqueue` for several e-mails in one INSERT (a lead's acknowledgement and staff
    notice). Each message is a dict of email_enqueue's arguments. Returns the rows, in order.

    `together_with`: the caller's own statements, (sql, params) whose results nobody reads, sent
    before the INSERT in the same round trip (a lead post's rows: see `statements.run_together`).
    """
    now = timezone.now()
    emails = [_new_email(now=now, **message) for message in messages]
    if _muted.get():
        run_together(together_with)
        return emails  # unsaved: there is no row, so neither a task nor the sweep can send it
    inserted = _insert_unless_exists(emails, together_with)
    missing = {email.key for email in emails} - set(inserted)
    existing = {row.key: row for row in Email.objects.filter(key__in=missing)} if missing else {}
    if missing - set(existing):
        raise IntegrityError(
            f"Outbox rows {sorted(missing - set(existing))} not inserted nor found"
        )
    for email in inserted.values():
        if email.send_after <= now:
            _publish_after_commit(email.pk)
    return [inserted.get(email.key) or existing[email.key] for email in emails]


def _new_email(*, now, key, to, template, context=None, send_after=None, headers=None):
    send_after = send_after or now
    return Email(
        key=key,
        to=to,
        template=template,
        context=context or {},
        headers=headers or {},
        send_after=send_after,
        queued_at=None,  # no task yet: wake_senders (or, failing that, the sweep) hands it out
    )


def _insert_unless_exists(emails, together_with=()):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, key. Returns {key: email} of the inserted.

    Asking twice for one key is rare; catching the IntegrityError instead needs a savepoint
    around each insert, two more round trips per e-mail on every form post. A concurrent insert
    of the same key is waited for by the database, then seen as the conflict.
    """
    rows = run_together(
        [
            *together_with,
            insert_statement(Email, emails, returning=("id", "key"), ignore_conflicts=True),
        ]
    )
    by_key = {}
    for email in emails:
        by_key.setdefault(email.key, email)
    inserted = {}
    for pk, key in rows:
        email = by_key[key]
        email.pk = pk
        email._state.adding = False
        email._state.db = Email.objects.db
        inserted[key] = email
    return inserted


class _CommitBatch(list):
    """The due e-mails of one transaction, handed out together once it commits."""

    def __init__(self, savepoints):
        super().__init__()
        self.savepoints = savepoints
        self.done = False

    def __call__(self):
        self.done = True
        wake_senders(self)


def _publish_after_commit(email_id):
    """One wake-up per transaction, however many e-mails it records (a lead's acknowledgement
    and staff notice were two publishes, each a round trip to the broker)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        wake_senders([email_id])
        return
    savepoints = set(connection.savepoint_ids)
    batch = getattr(connection, "_outbox_commit_batch", None)
    joinable = (
        batch is not None
        and not batch.done
        # Registered in this transaction or in a savepoint still open around us: not in one
        # already released (in tests every "transaction" is such a savepoint), and not in one
        # rolled back, which takes its commit hooks with it.
        and batch.savepoints <= savepoints
        and any(hook is batch for _, hook, _ in connection.run_on_commit)
    )
    if not joinable:
        batch = connection._outbox_commit_batch = _CommitBatch(savepoints)
        transaction.on_commit(batch)
    batch.append(email_id)


def email_cancel(*, keys):
    """Cancel e-mails not yet sent (e.g. a follow-up once the lead moves on). Returns how many.

    An e-mail being sent at this very moment is locked by its sender; the update waits for it (at
    most the SMTP timeout) and then finds it sent, so the answer is exact, never "maybe".
    """
    return Email.objects.filter(key__in=list(keys), status=Email.Status.PENDING).update(
        status=Email.Status.CANCELLED
    )


def email_retry(*, ids):
    """Send pending or failed e-mails now (the admin's "retry now"). Returns how many.

    A failed row gets one more attempt; rows that are sent, cancelled or being sent are left alone.
    """
    rows = Email.objects.filter(
        pk__in=list(ids), status__in=[Email.Status.PENDING, Email.Status.FAILED]
    )
    return hand_out_now(rows, publish_sends)


def hand_out_now(rows, publish):
    """Make `rows` of an outbox-like model pending and due now, and hand them out; rows being
    sent at this moment (locked) are left alone. Returns how many were handed out."""
    now = timezone.now()
    with transaction.atomic():
        retried = list(rows.select_for_update(skip_locked=True).values_list("pk", flat=True))
        rows.model.objects.filter(pk__in=retried).update(
            status="pending", send_after=now, queued_at=now
        )
        transaction.on_commit(lambda: publish(retried))
    return len(retried)


def wake_senders(email_ids):
    """After the commit that recorded these due rows (with no task): see that a hand_out_waiting
    task is on its way. Returns True if this call published one.

    Every commit that finds the key set leaves its rows to the task that set it: that task
    clears the key before it looks for rows, so it sees every row committed before the key was
    found set, and a row committed after the key was cleared wakes a task of its own. With no
    broker (tasks inline) the rows are sent here, as before.
    """
    from .tasks import hand_out_waiting

    if hand_out_waiting.app.conf.task_always_eager:
        publish_sends(email_ids, together=True)
        return False
    if time.monotonic() < _publish_paused_until:
        return False  # the broker was down a moment ago: the sweep has these rows
    try:
        if not cache.add(WAKE_KEY, 1, timeout=WAKE_SECONDS):
            return False
    except Exception:  # noqa: BLE001 - with the cache down, publish: an extra task costs little
        logger.warning("Cache unreachable: waking the senders without the pending-task key")
    try:
        hand_out_waiting.apply_async()
    except Exception as exc:  # noqa: BLE001 - a broker outage must not fail the caller
        _pause_publishing(exc, f"{len(email_ids)} e-mail(s)")
        with suppress(Exception):  # the next commit after the pause tries again
            cache.delete(WAKE_KEY)
        return False
    return True


def outbox_hand_out_waiting():
    """Hand out every due row that has no task yet (what commits woke us for). Returns the ids.

    Clears the wake-up key first (see `wake_senders`). Rows that have a task, or are being sent,
    are left alone, and so are a campaign's rows, which its batch senders claim (outbox/batch.py).
    """
    try:
        cache.delete(WAKE_KEY)
    except Exception:  # noqa: BLE001 - then the key expires by itself
        logger.warning("Cache unreachable: the wake-up key stays until it expires")
    limit = int(settings.OUTBOX_SWEEP_BATCH)
    handed_out = []
    while True:
        waiting = Email.objects.due(timezone.now() + CLOCK_TOLERANCE).filter(queued_at=None)
        row_ids = hand_out_due(waiting, _publish_together, limit=limit)
        handed_out += row_ids
        if len(row_ids) < limit:
            return handed_out


def _publish_together(email_ids):
    return publish_sends(email_ids, together=True)


def publish_sends(email_ids, *, countdown=None, together=False):
    """Hand send tasks to the broker. If the broker is unreachable the rows wait for the sweep.

    One task per e-mail, so that workers share them out; `together` hands out one task for up to
    TASK_BATCH e-mails instead (the e-mails of one transaction: a lead's two are one publish).
    """
    from .tasks import send_email, send_emails

    return publish_tasks(
        send_email,
        email_ids,
        countdown=countdown,
        leave_to_sweep=_leave_to_sweep,
        batch_task=send_emails if together else None,
    )


def publish_tasks(task, row_ids, *, countdown=None, leave_to_sweep, batch_task=None):
    """Hand one `task(row_id)` per row to the broker, or with `batch_task` one `batch_task(ids)`
    per TASK_BATCH rows; the rows it could not reach are given to `leave_to_sweep(ids)`. Shared
    by every outbox-like table (e-mails, edge cache purges).

    Publishing is bounded by the broker timeouts in settings (CELERY_BROKER_TRANSPORT_OPTIONS, no
    publish retries): about 2 s at most, so a request never hangs on a dead or black-holed Redis.
    """

    row_ids = list(row_ids)
    if not row_ids:
        return 0
    if task.app.conf.task_always_eager:
        if countdown:
            return 0  # inline mode has no timer: the sweep sends it once it is due
        for row_id in row_ids:
            task.apply(args=(row_id,))
        return len(row_ids)
    if time.monotonic() < _publish_paused_until:
        leave_to_sweep(row_ids)
        return 0
    size = TASK_BATCH if batch_task else 1
    published = 0
    try:
        for start in range(0, len(row_ids), size):
            chunk = row_ids[start : start + size]
            if len(chunk) == 1:
                task.apply_async((chunk[0],), countdown=countdown)
            else:
                batch_task.apply_async((chunk,), countdown=countdown)
            published += len(chunk)
    except Exception as exc:  # noqa: BLE001 - a broker outage must not fail the caller
        _pause_publishing(exc, f"{len(row_ids) - published} {task.name} task(s)")
        leave_to_sweep(row_ids[published:])
    return published


def _pause_publishing(exc, left_to_sweep):
    global _publish_paused_until
    _publish_paused_until = time.monotonic() + float(settings.OUTBOX_PUBLISH_PAUSE_SECONDS)
    logger.warning(
        "Broker unreachable (%s: %s); the sweep will hand out %s",
        type(exc).__name__,
        exc,
        left_to_sweep,
    )


def _leave_to_sweep(email_ids):
    # No task is on its way: the sweep takes these on its next run rather than after its grace.
    Email.objects.filter(pk__in=email_ids, status=Email.Status.PENDING).update(queued_at=None)


def render_email(email):
    context = {**email.context, "SITE_URL": settings.SITE_URL, "SITE_NAME": settings.SITE_NAME}
    subject = render_to_string(f"emails/{email.template}_subject.txt", context)
    subject = " ".join(subject.split())
    text = render_to_string(f"emails/{email.template}.txt", context)
    html = render_to_string(f"emails/{email.template}.html", context)
    return subject, text, html


def build_message(email, *, message_class=EmailMultiAlternatives):
    subject, text, html = render_email(email)
    message = message_class(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
        headers={"Message-ID": email.message_id, "X-Skilldacity-Key": email.key, **email.headers},
    )
    message.attach_alternative(html, "text/html")
    return message


def is_permanent_failure(exc):
    """A failure that the same message will meet again: stop and show it to staff."""
    if isinstance(exc, TemplateDoesNotExist | TemplateSyntaxError):
        return True
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False  # our credentials, not the message: mail flows again once they are fixed
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def backoff_delay(attempts):
    """Seconds before the next attempt: exponential, capped, with jitter ("equal jitter": between
    half and all of the ceiling, so the delay always grows but retries of many rows spread out)."""
    base = float(settings.OUTBOX_BACKOFF_BASE_SECONDS)
    cap = float(settings.OUTBOX_BACKOFF_MAX_SECONDS)
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def email_send(*, email_id):
    """Send one outbox row if it is due and nobody else is sending it. Returns the new status,
    or None when there was nothing to do (sent, cancelled, not due, or another sender has it).

    The row lock is held from the claim until the outcome is committed. The one window that can
    still duplicate: the process dies after the server's "250" to DATA and before the COMMIT
    reaches PostgreSQL (one UPDATE and a COMMIT, about a millisecond), or the server already
    queued the message when it lost the connection before its "250" reached us.
    """
    now = timezone.now()
    with ExitStack() as after_commit, transaction.atomic():
        email = (
            Email.objects.select_for_update(skip_locked=True)
            .filter(
                pk=email_id,
                status=Email.Status.PENDING,
                send_after__lte=now + CLOCK_TOLERANCE,
            )
            .first()
        )
        if email is None:
            return None
        attempts = email.attempts + 1
        try:
            message = build_message(email)
            connection = get_connection(fail_silently=False)
            connection.open()
            # QUIT waits for the server; it runs after the COMMIT so as not to widen the window.
            after_commit.callback(_close_quietly, connection)
            if connection.send_messages([message]) != 1:
                raise RuntimeError("the e-mail backend reported that nothing was sent")
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
            return _record_failure(email, exc, attempts, now)
        Email.objects.filter(pk=email.pk).update(
            status=Email.Status.SENT,
            attempts=attempts,
            last_attempt_at=now,
            sent_at=timezone.now(),
            last_error="",
            provider_message_id=_provider_message_id(message),
        )
        return Email.Status.SENT


def _close_quietly(connection):
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - the message is delivered and recorded; QUIT is a courtesy
        logger.info("Closing the e-mail connection failed", exc_info=True)


def _provider_message_id(message):
    status = getattr(message, "anymail_status", None)  # set by django-anymail backends
    message_id = getattr(status, "message_id", None)
    return str(message_id)[:255] if message_id else ""


def _record_failure(email, exc, attempts, now):
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if is_permanent_failure(exc) or attempts >= max_attempts():
        Email.objects.filter(pk=email.pk).update(
            status=Email.Status.FAILED, attempts=attempts, last_error=error, last_attempt_at=now
        )
        logger.error(
            "E-mail %s failed for good after %s attempt(s): %s", email.key, attempts, error
        )
        return Email.Status.FAILED
    delay = backoff_delay(attempts)
    retry_at = now + timedelta(seconds=delay)
    Email.objects.filter(pk=email.pk).update(
        attempts=attempts,
        last_error=error,
        last_attempt_at=now,
        send_after=retry_at,
        queued_at=retry_at,
    )
    transaction.on_commit(lambda: publish_sends([email.pk], countdown=delay))
    logger.warning(
        "E-mail %s attempt %s failed, retrying in %.1fs: %s", email.key, attempts, delay, error
    )
    return Email.Status.PENDING


def outbox_sweep(*, now=None, limit=None):
    """Hand out every due e-mail that has no live task. Returns the ids handed out."""
    return hand_out_due(
        Email.objects.due(now or timezone.now()), publish_sends, now=now, limit=limit
    )


def hand_out_due(due, publish, *, now=None, limit=None):
    """Hand out the rows of `due` (a queryset of an outbox-like model with `queued_at` and
    `send_after`) that have no live task. Returns the ids handed out.

    Rows locked by a sender are skipped; the ones handed out are stamped `queued_at` in the same
    transaction, so two sweeps running at once never hand out the same row twice.
    """
    now = now or timezone.now()
    limit = limit or int(settings.OUTBOX_SWEEP_BATCH)
    with transaction.atomic():
        row_ids = list(
            due.filter(Q(queued_at__isnull=True) | Q(queued_at__lte=now - sweep_grace()))
            .order_by("send_after")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        due.model.objects.filter(pk__in=row_ids).update(queued_at=now)
    if row_ids:
        logger.info("Sweep: handing out %s %s row(s)", len(row_ids), due.model.__name__)
        publish(row_ids)
    return row_ids
