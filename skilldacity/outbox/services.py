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

The periodic sweep (Celery beat) hands out whatever is due and has no live task: rows written while
the broker was down, rows of a killed worker, scheduled follow-ups (`send_after` in the future).
"""

import logging
import random
import smtplib
import time
from contextlib import ExitStack
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils import timezone

from .models import Email

logger = logging.getLogger(__name__)

# A task may run a moment before its row's send_after when worker clocks drift; without this
# tolerance it would find the row "not due" and leave it to the sweep, a grace period later.
CLOCK_TOLERANCE = timedelta(seconds=2)

# After a failed publish this process stops trying for a while: during a broker outage only the
# first request pays the bounded connection timeout, the others leave their rows to the sweep.
_publish_paused_until = 0.0


def max_attempts():
    return int(settings.OUTBOX_MAX_ATTEMPTS)


def sweep_grace():
    return timedelta(seconds=float(settings.OUTBOX_SWEEP_GRACE_SECONDS))


def email_enqueue(*, key, to, template, context=None, send_after=None, headers=None):
    """Record an e-mail and send it after the surrounding transaction commits.

    Idempotent on `key`: asking twice for the same e-mail returns the first row. With `send_after`
    in the future the e-mail waits for the sweep; `email_cancel` can still stop it.
    """
    now = timezone.now()
    send_after = send_after or now
    due_now = send_after <= now
    email = Email(
        key=key,
        to=to,
        template=template,
        context=context or {},
        headers=headers or {},
        send_after=send_after,
        queued_at=now if due_now else None,
    )
    # Insert first and look only on a conflict: asking twice is rare, and this is three round
    # trips on every form post instead of get_or_create's six.
    try:
        with transaction.atomic():
            email.save(force_insert=True)
    except IntegrityError:
        existing = Email.objects.filter(key=key).first()
        if existing is None:
            raise
        return existing
    if due_now:
        transaction.on_commit(lambda: publish_sends([email.pk]))
    return email


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
    now = timezone.now()
    with transaction.atomic():
        retried = list(
            Email.objects.filter(
                pk__in=list(ids), status__in=[Email.Status.PENDING, Email.Status.FAILED]
            )
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        Email.objects.filter(pk__in=retried).update(
            status=Email.Status.PENDING, send_after=now, queued_at=now
        )
        transaction.on_commit(lambda: publish_sends(retried))
    return len(retried)


def publish_sends(email_ids, *, countdown=None):
    """Hand send tasks to the broker. If the broker is unreachable the rows wait for the sweep.

    Publishing is bounded by the broker timeouts in settings (CELERY_BROKER_TRANSPORT_OPTIONS, no
    publish retries): about 2 s at most, so a request never hangs on a dead or black-holed Redis.
    """
    global _publish_paused_until
    from .tasks import send_email

    email_ids = list(email_ids)
    if not email_ids:
        return 0
    if send_email.app.conf.task_always_eager:
        if countdown:
            return 0  # inline mode has no timer: the sweep sends it once it is due
        for email_id in email_ids:
            send_email.apply(args=(email_id,))
        return len(email_ids)
    if time.monotonic() < _publish_paused_until:
        _leave_to_sweep(email_ids)
        return 0
    published = 0
    try:
        for email_id in email_ids:
            send_email.apply_async((email_id,), countdown=countdown)
            published += 1
    except Exception as exc:  # noqa: BLE001 - a broker outage must not fail the caller
        _publish_paused_until = time.monotonic() + float(settings.OUTBOX_PUBLISH_PAUSE_SECONDS)
        logger.warning(
            "Broker unreachable (%s: %s); the outbox sweep will send %s e-mail(s)",
            type(exc).__name__,
            exc,
            len(email_ids) - published,
        )
        _leave_to_sweep(email_ids[published:])
    return published


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


def build_message(email):
    subject, text, html = render_email(email)
    message = EmailMultiAlternatives(
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
    """Hand out every due row that has no live task. Returns the ids handed out.

    Rows locked by a sender are skipped; the ones handed out are stamped `queued_at` in the same
    transaction, so two sweeps running at once never hand out the same row twice.
    """
    now = now or timezone.now()
    limit = limit or int(settings.OUTBOX_SWEEP_BATCH)
    with transaction.atomic():
        email_ids = list(
            Email.objects.due(now)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lte=now - sweep_grace()))
            .order_by("send_after")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        Email.objects.filter(pk__in=email_ids).update(queued_at=now)
    if email_ids:
        logger.info("Outbox sweep: handing out %s e-mail(s)", len(email_ids))
        publish_sends(email_ids)
    return email_ids
