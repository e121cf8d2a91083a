"""The one way the site sends e-mail.

`email_enqueue` records the e-mail in the caller's transaction and schedules the send after commit.
Rolled back: nothing is sent. Committed: a Celery task sends it (inline when there is no broker),
and the periodic sweep picks up whatever a broker outage or a dead worker left behind.
"""

import logging
import random
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from .models import Email

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
# A row claimed longer ago than this belongs to a worker that died; the sweep takes it back.
STALE_CLAIM = timedelta(minutes=5)


def email_enqueue(*, key, to, template, context=None, send_after=None, headers=None):
    """Record an e-mail and send it after the surrounding transaction commits.

    Idempotent on `key`: asking twice for the same e-mail returns the first row.
    """
    defaults = {
        "to": to,
        "template": template,
        "context": context or {},
        "headers": headers or {},
        "send_after": send_after or timezone.now(),
    }
    try:
        with transaction.atomic():
            email, created = Email.objects.get_or_create(key=key, defaults=defaults)
    except IntegrityError:
        email, created = Email.objects.get(key=key), False
    if created and email.send_after <= timezone.now():
        transaction.on_commit(lambda: _schedule_send(email.pk))
    return email


def email_cancel(*, keys):
    """Cancel e-mails not yet sent (e.g. a follow-up once the lead moves on)."""
    return Email.objects.filter(key__in=keys, status=Email.Status.PENDING).update(
        status=Email.Status.CANCELLED
    )


def _schedule_send(email_id):
    from .tasks import send_email

    try:
        send_email.delay(email_id)
    except Exception:  # noqa: BLE001 - a broker outage must not fail the request; the sweep heals
        logger.warning("Could not publish send_email(%s); the sweep will send it", email_id)


def render_email(email):
    context = {**email.context, "SITE_URL": settings.SITE_URL, "SITE_NAME": settings.SITE_NAME}
    subject = render_to_string(f"emails/{email.template}_subject.txt", context)
    subject = " ".join(subject.split())
    text = render_to_string(f"emails/{email.template}.txt", context)
    html = render_to_string(f"emails/{email.template}.html", context)
    return subject, text, html


def build_message(email):
    subject, text, html = render_email(email)
    message_id = email.message_id or make_msgid(domain="skilldacity.example")
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
        headers={"Message-ID": message_id, "X-Skilldacity-Key": email.key, **email.headers},
    )
    message.attach_alternative(html, "text/html")
    return message, message_id


def _claim(email_id, now):
    """Take a row for sending. Only one worker wins the conditional update."""
    claimed = Email.objects.filter(
        pk=email_id, status=Email.Status.PENDING, send_after__lte=now
    ).update(status=Email.Status.SENDING, claimed_at=now)
    return claimed == 1


def _is_permanent(exc):
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def backoff_delay(attempts):
    """Exponential backoff with full jitter, in seconds."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def email_send(*, email_id):
    """Send one outbox row if it is due and nobody else is sending it. Returns the final status."""
    now = timezone.now()
    if not _claim(email_id, now):
        return None
    email = Email.objects.get(pk=email_id)
    attempts = email.attempts + 1
    try:
        message, message_id = build_message(email)
        message.send()
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if _is_permanent(exc) or attempts >= MAX_ATTEMPTS:
            status, send_after = Email.Status.FAILED, email.send_after
        else:
            status = Email.Status.PENDING
            send_after = now + timedelta(seconds=backoff_delay(attempts))
        Email.objects.filter(pk=email_id).update(
            status=status, attempts=attempts, last_error=error, send_after=send_after
        )
        logger.warning("E-mail %s attempt %s failed: %s", email.key, attempts, error)
        return status
    Email.objects.filter(pk=email_id).update(
        status=Email.Status.SENT,
        attempts=attempts,
        sent_at=timezone.now(),
        message_id=message_id,
        last_error="",
    )
    return Email.Status.SENT


def outbox_sweep(*, now=None, limit=500):
    """Send what is due and take back rows whose worker died. Returns the ids scheduled."""
    now = now or timezone.now()
    Email.objects.filter(status=Email.Status.SENDING, claimed_at__lt=now - STALE_CLAIM).update(
        status=Email.Status.PENDING
    )
    due_ids = list(
        Email.objects.due(now).order_by("send_after").values_list("pk", flat=True)[:limit]
    )
    for email_id in due_ids:
        _schedule_send(email_id)
    return due_ids
