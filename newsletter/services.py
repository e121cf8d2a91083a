"""The operations that change newsletter state. Each runs in one transaction.

Sign-up is double opt-in: a subscriber stays pending until they POST the confirmation page reached
from a signed link. Confirmation issues their discount code and sends `person_known`. Updates go out
as one outbox e-mail per recipient, keyed `newsletter:<issue>:<subscriber>`, so that key is the
delivery record: a resumed or repeated send finds the key taken and sends nobody a second copy.
"""

import hashlib
import logging
import operator
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_cancel, email_enqueue
from skilldacity.signals import person_known

from . import tokens
from .models import ApiKey, DiscountCode, Issue, Subscriber

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L or U/V look-alikes: a code read aloud or typed from a phone gets through.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_PREFIX = "SKILL"
CODE_ATTEMPTS = 8
API_KEY_PREFIX = "skd_"


def normalize_email(value):
    return value.strip().lower()


def absolute_url(path):
    return f"{settings.SITE_URL}{path}"


def confirm_url(subscriber):
    token = tokens.make_token(
        subscriber_id=subscriber.pk, nonce=subscriber.token_nonce, purpose=tokens.CONFIRM
    )
    return absolute_url(reverse("newsletter:confirm", args=[token]))


def unsubscribe_url(*, subscriber_id, nonce):
    token = tokens.make_token(subscriber_id=subscriber_id, nonce=nonce, purpose=tokens.UNSUBSCRIBE)
    return absolute_url(reverse("newsletter:unsubscribe", args=[token]))


# --- Subscribing ---------------------------------------------------------------------------


def new_nonce():
    return secrets.token_hex(8)


def _queue_confirmation(subscriber, now):
    """Queue the confirmation link, or a reminder with the code for someone already confirmed."""
    subscriber.confirmation_sends += 1
    subscriber.last_confirmation_sent_at = now
    number = subscriber.confirmation_sends
    if subscriber.status == Subscriber.Status.CONFIRMED:
        code = DiscountCode.objects.filter(subscriber=subscriber).first()
        email_enqueue(
            key=f"newsletter-reminder:{subscriber.pk}:{number}",
            to=subscriber.email,
            template="newsletter_welcome",
            context=_welcome_context(subscriber, code, already_subscribed=True),
            headers=_welcome_headers(subscriber),
        )
        return
    email_enqueue(
        key=f"newsletter-confirm:{subscriber.pk}:{number}",
        to=subscriber.email,
        template="newsletter_confirm",
        context={
            "first_name": subscriber.first_name,
            "confirm_url": confirm_url(subscriber),
            "valid_days": tokens.confirm_max_age().days,
        },
    )


def _existing_article_id(article_id):
    """The article a sign-up came from, if it still exists (the form's value is only a hint)."""
    if not article_id:
        return None
    # Through the foreign key: articles depends on newsletter (its sign-up form on article pages),
    # so newsletter does not import articles back.
    articles = Subscriber.article.field.related_model.objects
    return articles.filter(pk=article_id).values_list("pk", flat=True).first()


def subscriber_signup(
    *, email, first_name, source, consent_text, ip, attribution, article_id=None, now=None
):
    """Record a sign-up and queue the confirmation e-mail. Returns the Subscriber.

    Signing up again never makes a second subscriber: a pending one gets the link again, a
    confirmed one a reminder with their code, an unsubscribed one starts over as pending (old
    links void). Repeats within NEWSLETTER_RESEND_SECONDS send nothing, so nobody can use the form
    to flood someone else's inbox.
    """
    now = now or timezone.now()
    email = normalize_email(email)
    consent = {
        "source": source,
        "consent_text": consent_text,
        "consent_at": now,
        "consent_ip": ip or None,
    }
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(email=email).first()
        if subscriber is None:
            try:
                with transaction.atomic():
                    subscriber = Subscriber.objects.create(
                        email=email,
                        first_name=first_name,
                        attribution=attribution or {},
                        article_id=_existing_article_id(article_id),
                        token_nonce=new_nonce(),
                        created_at=now,
                        **consent,
                    )
            except IntegrityError:
                # A simultaneous sign-up with the same address won; carry on as a repeat.
                subscriber = Subscriber.objects.select_for_update().get(email=email)
            else:
                _queue_confirmation(subscriber, now)
                subscriber.save(update_fields=["confirmation_sends", "last_confirmation_sent_at"])
                return subscriber

        resend_after = timedelta(seconds=settings.NEWSLETTER_RESEND_SECONDS)
        recently_sent = (
            subscriber.last_confirmation_sent_at
            and now - subscriber.last_confirmation_sent_at < resend_after
        )
        if subscriber.status == Subscriber.Status.UNSUBSCRIBED:
            subscriber.status = Subscriber.Status.PENDING
            subscriber.token_nonce = new_nonce()
            subscriber.unsubscribed_at = None
            subscriber.confirmed_at = None
            recently_sent = False
        if subscriber.status == Subscriber.Status.PENDING:
            for field, value in consent.items():
                setattr(subscriber, field, value)
            subscriber.first_name = first_name or subscriber.first_name
            if not subscriber.attribution and attribution:
                subscriber.attribution = attribution
        if not recently_sent:
            _queue_confirmation(subscriber, now)
        subscriber.save()
    return subscriber


def subscriber_confirm(*, subscriber_id, now=None):
    """Confirm a pending subscription: issue the code, e-mail it, tell the referrals app.

    Idempotent: confirming again changes nothing and returns the subscriber as it is. An
    unsubscribed subscriber is not re-subscribed by an old link. Returns the Subscriber.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        if subscriber.status != Subscriber.Status.PENDING:
            return subscriber
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = now
        subscriber.save(update_fields=["status", "confirmed_at"])
        code = code_issue(subscriber=subscriber, now=now)
        email_enqueue(
            key=f"newsletter-welcome:{subscriber.pk}:{subscriber.token_nonce}",
            to=subscriber.email,
            template="newsletter_welcome",
            context=_welcome_context(subscriber, code, already_subscribed=False),
            headers=_welcome_headers(subscriber),
        )
        person_known.send(
            sender=Subscriber,
            email=subscriber.email,
            source="newsletter",
            email_confirmed=True,
            attribution=subscriber.attribution,
            ip=subscriber.consent_ip,
            user=None,
        )
    return subscriber


def subscriber_unsubscribe(*, subscriber_id, now=None):
    """Take someone off the list at once and cancel updates still queued for them.

    Returns True if this call unsubscribed them, False if they already were.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        if subscriber.status == Subscriber.Status.UNSUBSCRIBED:
            return False
        subscriber.status = Subscriber.Status.UNSUBSCRIBED
        subscriber.unsubscribed_at = now
        subscriber.save(update_fields=["status", "unsubscribed_at"])
        # A big send stays in the outbox for a while after it is fully queued, so look back a
        # week, not only at issues still being queued.
        recent = Issue.objects.filter(send_started_at__gte=now - timedelta(days=7))
        keys = [issue.email_key(subscriber.pk) for issue in recent.only("pk")]
        if keys:
            email_cancel(keys=keys)
    return True


def _welcome_headers(subscriber):
    return one_click_headers(
        unsubscribe_url(subscriber_id=subscriber.pk, nonce=subscriber.token_nonce)
    )


def _welcome_context(subscriber, code, *, already_subscribed):
    return {
        "first_name": subscriber.first_name,
        "code": code.code if code else "",
        "percent_off": code.percent_off if code else 0,
        "expires_on": code.expires_at.date().isoformat() if code else "",
        "already_subscribed": already_subscribed,
        "unsubscribe_url": unsubscribe_url(
            subscriber_id=subscriber.pk, nonce=subscriber.token_nonce
        ),
    }


# --- Discount codes ------------------------------------------------------------------------


def generate_code():
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(2))
    return "-".join((CODE_PREFIX, *groups))


def normalize_code(value):
    """Upper-case and tidy what a person typed: ' skill 7kq4 m9xp ' -> 'SKILL-7KQ4-M9XP'."""
    compact = re.sub(r"[\s\-]", "", str(value)).upper()
    if len(compact) == len(CODE_PREFIX) + 8 and compact.startswith(CODE_PREFIX):
        body = compact[len(CODE_PREFIX) :]
        return f"{CODE_PREFIX}-{body[:4]}-{body[4:]}"
    return compact[:40]


def code_issue(*, subscriber, now=None):
    """The subscriber's code, created on first call. The unique index decides collisions."""
    now = now or timezone.now()
    existing = DiscountCode.objects.filter(subscriber=subscriber).first()
    if existing:
        return existing
    expires_at = now + timedelta(days=settings.NEWSLETTER_CODE_VALID_DAYS)
    percent = settings.NEWSLETTER_DISCOUNT_PERCENT
    for _ in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                return DiscountCode.objects.create(
                    code=generate_code(),
                    subscriber=subscriber,
                    percent_off=percent,
                    expires_at=expires_at,
                    created_at=now,
                )
        except IntegrityError:
            logger.info("Discount code collision; drawing again")
    raise RuntimeError(f"No free discount code after {CODE_ATTEMPTS} draws")


@dataclass(frozen=True)
class CodeAnswer:
    """What a checkout is told about a code. `outcome` is one of the constants below."""

    outcome: str
    code: DiscountCode | None = None

    @property
    def ok(self):
        return self.outcome in (VALID, REDEEMED)


VALID = "valid"
REDEEMED = "redeemed"
ALREADY_REDEEMED = "already_redeemed"
EXPIRED = "expired"
UNKNOWN = "unknown"


def _refusal(code, now):
    if code is None:
        return CodeAnswer(UNKNOWN)
    if code.redeemed_at is not None:
        return CodeAnswer(ALREADY_REDEEMED, code)
    if code.is_expired(now):
        return CodeAnswer(EXPIRED, code)
    return None


# What a stored code can look like; anything else is unknown without asking the database (and
# some text, a NUL byte above all, PostgreSQL refuses to even compare).
_POSSIBLE_CODE = re.compile(r"[A-Z0-9-]{1,40}")


def code_check(*, code, now=None):
    """Would this code be accepted right now? Changes nothing."""
    now = now or timezone.now()
    normalized = normalize_code(code)
    if not _POSSIBLE_CODE.fullmatch(normalized):
        return CodeAnswer(UNKNOWN, None)
    found = DiscountCode.objects.filter(code=normalized).first()
    return _refusal(found, now) or CodeAnswer(VALID, found)


def code_redeem(*, code, order_reference="", api_key=None, user=None, now=None):
    """Use a code once. Two racing redemptions: the conditional UPDATE lets exactly one through.

    A checkout retrying the same order with the same key is told "redeemed" again, so a lost
    response never turns a paid order into a refusal.
    """
    now = now or timezone.now()
    normalized = normalize_code(code)
    if not _POSSIBLE_CODE.fullmatch(normalized):
        return CodeAnswer(UNKNOWN, None)
    with transaction.atomic():
        claimed = DiscountCode.objects.filter(
            code=normalized, redeemed_at__isnull=True, expires_at__gt=now
        ).update(
            redeemed_at=now,
            order_reference=order_reference,
            redeemed_via=api_key,
            redeemed_by=user,
        )
        found = DiscountCode.objects.filter(code=normalized).first()
    if claimed:
        return CodeAnswer(REDEEMED, found)
    if (
        found is not None
        and found.redeemed_at is not None
        and order_reference
        and found.order_reference == order_reference
        and found.redeemed_via_id == (api_key.pk if api_key else None)
    ):
        return CodeAnswer(REDEEMED, found)
    return _refusal(found, now)


# --- API keys ------------------------------------------------------------------------------


def _hash_key(raw):
    # The keys are 256-bit random strings, so a fast hash is enough; a slow password hash would
    # only add latency to every checkout call.
    return hashlib.sha256(raw.encode()).hexdigest()


def apikey_create(*, name):
    """Make a key for an integration. Returns (ApiKey, the key): the key is never stored."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(name=name, prefix=raw[:12], key_hash=_hash_key(raw))
    return api_key, raw


def apikey_authenticate(*, raw):
    """The live ApiKey for this secret, or None."""
    if not raw or not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
        return None
    api_key = ApiKey.objects.filter(key_hash=_hash_key(raw), revoked_at__isnull=True).first()
    if api_key is not None:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key


# --- Sending updates -----------------------------------------------------------------------


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


def one_click_headers(link):
    return {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
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

    The batch and the issue's position commit together, and the outbox key makes a repeated batch
    a no-op, so a worker dying anywhere in here costs nothing but the retry. Memory is bounded by
    the batch: ids are walked in order, never loaded all at once.
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
        for subscriber_id, address, first_name, nonce in recipients:
            link = unsubscribe_url(subscriber_id=subscriber_id, nonce=nonce)
            email_enqueue(
                key=issue.email_key(subscriber_id),
                to=address,
                template="newsletter_issue",
                context=issue_email_context(issue, first_name=first_name, unsubscribe_link=link),
                headers=one_click_headers(link),
            )
        if recipients:
            issue.enqueued_through_id = recipients[-1][0]
        else:
            issue.status = Issue.Status.SENT
            issue.enqueued_at = now
        issue.enqueue_heartbeat_at = now
        issue.save(
            update_fields=["enqueued_through_id", "status", "enqueued_at", "enqueue_heartbeat_at"]
        )
    return len(recipients)


def issue_enqueue(*, issue_id, seconds=None, progress=None):
    """Run batches until the issue is fully queued or `seconds` pass. Returns True when done."""
    seconds = seconds if seconds is not None else settings.NEWSLETTER_ENQUEUE_TASK_SECONDS
    deadline = time.monotonic() + seconds
    while True:
        queued = issue_enqueue_batch(issue_id=issue_id)
        if progress:
            progress(queued)
        if not queued:
            return True
        if time.monotonic() >= deadline:
            return False


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
