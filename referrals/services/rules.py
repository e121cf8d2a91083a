"""Referral rules: who referred a newly known person, whether it counts, and paying for it."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from skilldacity.outbox.services import email_enqueue

from ..models import KnownEmail, LedgerEntry, Referral, ReferrerAccount
from .accounts import canonical_email, normalise_email
from .errors import InvalidTransition
from .ledger import entry_reverse, ledger_post


def points_per_referral():
    return settings.SKILLPOINTS_PER_REFERRAL


def _attribution_expired(attribution, now):
    seen = attribution.get("ref_seen_at")
    if not seen:
        return False
    try:
        seen_at = datetime.fromisoformat(seen)
    except (TypeError, ValueError):
        return True
    if timezone.is_naive(seen_at):
        seen_at = timezone.make_aware(seen_at, timezone.get_current_timezone())
    window = timedelta(days=settings.REFERRAL_ATTRIBUTION_DAYS)
    return now - seen_at > window


def _known_before(email, *, user, cutoff):
    """Did the site know this person before the referral? Accounts, earlier person_known events,
    and (when installed) other apps' rows with an `email` and `created_at` older than the cutoff:
    the leads are the only record of the people they bring (SOURCES_WITH_OWN_RECORD)."""
    User = get_user_model()
    # An account counts once verified (active) and older than the referral: the friend's own
    # sign-up, still waiting for its verification link, does not make them "known".
    others = User.objects.filter(email__iexact=email, is_active=True, date_joined__lt=cutoff)
    if user is not None:
        others = others.exclude(pk=user.pk)
    if others.exists():
        return True
    if KnownEmail.objects.filter(email=email, first_seen_at__lt=cutoff).exists():
        return True
    from django.apps import apps

    for label in ("leads", "newsletter"):
        try:
            models = apps.get_app_config(label).get_models()
        except LookupError:
            continue
        for model in models:
            names = {field.name for field in model._meta.get_fields()}
            if {"email", "created_at"} <= names and model.objects.filter(
                email__iexact=email, created_at__lt=cutoff
            ).exists():
                return True
    return False


def _hold_reason(*, email, referrer, ip, now):
    referrer_email = normalise_email(referrer.user.email)
    if "+" in email.partition("@")[0]:
        if canonical_email(email) == canonical_email(referrer_email):
            return "Plus-addressed variant of the referrer's own address."
        siblings = Referral.objects.filter(referrer=referrer).exclude(email=email)
        local, _, domain = canonical_email(email).partition("@")
        if siblings.filter(email__startswith=f"{local}+", email__endswith=f"@{domain}").exists():
            return "Several plus-addressed variants of one address."
    if ip:
        window = timedelta(minutes=settings.REFERRAL_REVIEW_IP_MINUTES)
        limit = settings.REFERRAL_REVIEW_IP_LIMIT
        recent = Referral.objects.filter(ip=ip, created_at__gte=now - window).count()
        if recent >= limit:
            return f"{recent + 1} referrals from one IP address within {window}."
    return ""


# Sources whose own rows say when the site first heard of someone, and which `_known_before`
# reads. A lead is one, and it is anonymised when its retention ends or its sender asks to be
# erased (leads.services.person_erase): a copy of its address here would outlive both.
SOURCES_WITH_OWN_RECORD = frozenset({"lead"})


def remember_email(email, source, now):
    """Note that the site knows this (normalised) address now, unless `source` is its record."""
    if source not in SOURCES_WITH_OWN_RECORD:
        KnownEmail.remember(email=email, source=source, now=now)


def referral_record(*, email, source, email_confirmed, attribution=None, ip=None, user=None):
    """Record (and, once the e-mail is confirmed, qualify) a referral for a newly known person.

    Returns the Referral, or None when nobody referred them or the rules say no.
    """
    email = normalise_email(email)
    if not email or "@" not in email:
        return None
    attribution = attribution or {}
    now = timezone.now()
    with transaction.atomic():
        referral = Referral.objects.select_for_update().filter(email=email).first()
        if referral is None:
            referral = _referral_create(
                email=email, source=source, attribution=attribution, ip=ip, user=user, now=now
            )
        remember_email(email, source, now)
        if referral is None:
            return None
        if email_confirmed and referral.email_confirmed_at is None:
            Referral.objects.filter(pk=referral.pk).update(email_confirmed_at=now)
            referral.email_confirmed_at = now
        if user is not None and referral.referred_user_id is None:
            Referral.objects.filter(pk=referral.pk).update(referred_user=user)
            referral.referred_user = user
        if referral.state == Referral.State.PENDING and referral.email_confirmed_at:
            _referral_qualify(referral, now=now)
    return referral


def _referral_create(*, email, source, attribution, ip, user, now):
    code = (attribution.get("ref") or "").strip().upper()
    if not code or _attribution_expired(attribution, now):
        return None
    referrer = (
        ReferrerAccount.objects.select_related("user")
        .filter(code=code, email_verified_at__isnull=False, user__is_active=True)
        .first()
    )
    if referrer is None:
        return None
    if referrer.user_id == getattr(user, "pk", None) or email == normalise_email(
        referrer.user.email
    ):
        return None
    seen = attribution.get("ref_seen_at")
    cutoff = datetime.fromisoformat(seen) if seen else now
    if timezone.is_naive(cutoff):
        cutoff = timezone.make_aware(cutoff, timezone.get_current_timezone())
    if _known_before(email, user=user, cutoff=min(cutoff, now)):
        return None
    reason = _hold_reason(email=email, referrer=referrer, ip=ip, now=now)
    try:
        with transaction.atomic():
            return Referral.objects.create(
                referrer=referrer,
                email=email,
                referred_user=user,
                source=source[:20],
                state=Referral.State.REVIEW if reason else Referral.State.PENDING,
                review_reason=reason,
                ip=ip or None,
            )
    except IntegrityError:
        # Another event for this person won the race: the first referrer keeps the credit.
        return Referral.objects.select_for_update().filter(email=email).first()


def _referral_qualify(referral, *, now, staff_user=None):
    amount = points_per_referral()
    _, created = ledger_post(
        account_id=referral.referrer_id,
        amount=amount,
        kind=LedgerEntry.Kind.REFERRAL_AWARD,
        key=f"referral-award:{referral.pk}",
        referral=referral,
        created_by=staff_user,
        note=f"Referred {mask_email(referral.email)}",
    )
    Referral.objects.filter(pk=referral.pk).update(state=Referral.State.QUALIFIED, qualified_at=now)
    referral.state, referral.qualified_at = Referral.State.QUALIFIED, now
    if created:
        referrer_user = referral.referrer.user
        email_enqueue(
            key=f"referral-qualified:{referral.pk}",
            to=referrer_user.email,
            template="referral_qualified",
            context={
                "friend": mask_email(referral.email),
                "points": amount,
                "dashboard_path": reverse("referrals:dashboard"),
            },
        )


def referral_approve(*, referral_id, staff_user):
    """Release a held referral: it pays now if the friend's e-mail is confirmed, else on confirm."""
    now = timezone.now()
    with transaction.atomic():
        referral = (
            Referral.objects.select_for_update()
            .select_related("referrer__user")
            .get(pk=referral_id)
        )
        if referral.state not in (Referral.State.REVIEW, Referral.State.REJECTED):
            raise InvalidTransition("Only held or rejected referrals can be approved.")
        if referral.entries.filter(kind=LedgerEntry.Kind.REVERSAL).exists():
            raise InvalidTransition("This referral was paid and reversed; post an adjustment.")
        Referral.objects.filter(pk=referral.pk).update(
            state=Referral.State.PENDING, decided_by=staff_user, decided_at=now
        )
        referral.state = Referral.State.PENDING
        if referral.email_confirmed_at:
            _referral_qualify(referral, now=now, staff_user=staff_user)
    return referral


def referral_reject(*, referral_id, staff_user, reason=""):
    """Turn a referral down; if it was already paid, the award is reversed."""
    now = timezone.now()
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral_id)
        if referral.state == Referral.State.REJECTED:
            return referral
        award = referral.entries.filter(kind=LedgerEntry.Kind.REFERRAL_AWARD).first()
        if award is not None:
            entry_reverse(entry_id=award.pk, staff_user=staff_user, note="Referral rejected")
        Referral.objects.filter(pk=referral.pk).update(
            state=Referral.State.REJECTED,
            review_reason=(reason or referral.review_reason)[:200],
            decided_by=staff_user,
            decided_at=now,
        )
        referral.state = Referral.State.REJECTED
    return referral


def mask_email(email):
    """a***@example.com: enough for a referrer to recognise a friend, not to harvest addresses."""
    local, _, domain = (email or "").partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
