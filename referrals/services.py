"""Every state change in SkillPoints: one keyword-only function per operation, one transaction each.

Points move only through `ledger_post`, which locks the account row, appends an entry under a
unique idempotency key and moves the cached balance in the same transaction. The database's
CHECK (balance >= 0) is the last line of defence; the row lock makes concurrent debits queue up
so the check is met by arithmetic, not by luck.
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from skilldacity.outbox.services import email_enqueue
from skilldacity.signals import person_known

from .models import KnownEmail, LedgerEntry, Redemption, Referral, ReferrerAccount, Reward

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud
CODE_LENGTH = 8
VERIFY_SALT = "referrals.account-verify"


class PointsError(Exception):
    """A points operation that cannot happen; the message is fit to show the referrer."""


class InsufficientPoints(PointsError):
    pass


class RewardUnavailable(PointsError):
    pass


class InvalidTransition(PointsError):
    pass


def points_per_referral():
    return settings.SKILLPOINTS_PER_REFERRAL


def normalise_email(email):
    return (email or "").strip().lower()


def canonical_email(email):
    """The mailbox an address delivers to: `ann+x@example.com` is `ann@example.com`."""
    local, _, domain = normalise_email(email).partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


# --- Ledger ----------------------------------------------------------------------------------


def ledger_post(
    *,
    account_id,
    amount,
    kind,
    key,
    referral=None,
    redemption=None,
    reverses=None,
    created_by=None,
    note="",
):
    """Append one entry and move the cached balance. Returns (entry, created).

    Idempotent on `key`: the same event posted twice returns the first entry and changes nothing.
    Raises InsufficientPoints when the entry would take the balance below zero.
    """
    if amount == 0:
        raise PointsError("A ledger entry must move some points.")
    with transaction.atomic():
        # The lock is taken before the idempotency check, so two deliveries of one event queue up
        # and the second sees the first's entry.
        account = ReferrerAccount.objects.select_for_update().get(pk=account_id)
        existing = LedgerEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing, False
        if account.balance + amount < 0:
            raise InsufficientPoints(
                f"That needs {-amount} points and the balance is {account.balance}."
            )
        entry = LedgerEntry.objects.create(
            account=account,
            amount=amount,
            kind=kind,
            idempotency_key=key,
            referral=referral,
            redemption=redemption,
            reverses=reverses,
            created_by=created_by,
            note=note[:300],
        )
        ReferrerAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
    return entry, True


def points_adjust(*, account_id, amount, note, staff_user, key=None):
    """A staff correction: goodwill points, or taking back points paid by mistake."""
    key = key or f"adjustment:{secrets.token_hex(12)}"
    entry, _ = ledger_post(
        account_id=account_id,
        amount=amount,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        key=key,
        created_by=staff_user,
        note=note,
    )
    return entry


def entry_reverse(*, entry_id, staff_user=None, note=""):
    """Cancel an entry out with an equal and opposite one (at most once per entry)."""
    original = LedgerEntry.objects.get(pk=entry_id)
    if original.kind == LedgerEntry.Kind.REVERSAL:
        raise InvalidTransition("A reversal cannot itself be reversed; post an adjustment.")
    entry, _ = ledger_post(
        account_id=original.account_id,
        amount=-original.amount,
        kind=LedgerEntry.Kind.REVERSAL,
        key=f"reversal:{original.pk}",
        referral=original.referral,
        redemption=original.redemption,
        reverses=original,
        created_by=staff_user,
        note=note or f"Reverses entry {original.pk}",
    )
    return entry


# --- Accounts ----------------------------------------------------------------------------------


def _new_code():
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def account_create(*, user, attribution=None, ip=None):
    """Give a user a referrer account with a fresh short code."""
    for _ in range(10):
        try:
            with transaction.atomic():
                return ReferrerAccount.objects.create(
                    user=user,
                    code=_new_code(),
                    signup_attribution=attribution or {},
                    signup_ip=ip or None,
                )
        except IntegrityError:
            if ReferrerAccount.objects.filter(user=user).exists():
                return user.referrer_account
    raise RuntimeError("Could not find a free referral code")  # 32**8 codes: not in practice


def account_for_user(*, user):
    """The user's referrer account, created on first use (e.g. for staff users)."""
    try:
        return user.referrer_account
    except ReferrerAccount.DoesNotExist:
        return account_create(user=user)


def _password_fingerprint(user):
    # Binds a link to the password chosen at that sign-up: a later sign-up for the same address
    # (sets a new password) makes earlier links stale, so whoever verifies gets the latest one.
    return salted_hmac(VERIFY_SALT, user.password).hexdigest()[:16]


def verification_token(user):
    return signing.dumps(
        {"u": user.pk, "e": normalise_email(user.email), "p": _password_fingerprint(user)},
        salt=VERIFY_SALT,
    )


def verification_user(token):
    """The user a verification token names, or None when it is forged, expired or stale."""
    max_age = timedelta(days=settings.ACCOUNT_VERIFY_DAYS)
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user = get_user_model().objects.filter(pk=data.get("u")).first()
    if user is None or normalise_email(user.email) != data.get("e"):
        return None
    if not constant_time_compare(_password_fingerprint(user), str(data.get("p", ""))):
        return None
    return user


def account_signup(*, email, password, attribution=None, ip=None):
    """Create an inactive account and send the verification link.

    When the address already has an account, nothing is created and that person gets an e-mail
    saying so, so the sign-up form never tells a stranger which addresses have accounts.
    Returns the new user, or None when the address was taken.
    """
    email = normalise_email(email)
    User = get_user_model()
    with transaction.atomic():
        existing = User.objects.filter(email__iexact=email).first() or (
            User.objects.filter(username__iexact=email).first()
        )
        if existing is not None:
            if existing.is_active:
                email_enqueue(
                    key=f"account-exists:{existing.pk}:{timezone.now():%Y%m%d%H}",
                    to=email,
                    template="account_exists",
                    context={
                        "login_path": reverse("login"),
                        "reset_path": reverse("password_reset"),
                    },
                )
            else:
                # Not verified yet: the latest sign-up's password wins and earlier links go stale.
                existing.set_password(password)
                existing.save(update_fields=["password"])
                _enqueue_verification(existing, resend=True)
            return None
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    username=email, email=email, password=password, is_active=False
                )
        except IntegrityError:  # the same address signed up twice at the same moment
            return None
        account_create(user=user, attribution=attribution, ip=ip)
        _enqueue_verification(user)
    return user


def _enqueue_verification(user, resend=False):
    suffix = f":{timezone.now():%Y%m%d%H%M}" if resend else ""
    email_enqueue(
        key=f"account-verify:{user.pk}{suffix}",
        to=user.email,
        template="account_verify",
        context={"verify_path": reverse("referrals:verify", args=[verification_token(user)])},
    )


def account_verify(*, user):
    """Activate the account and tell the referrals machinery a person confirmed their e-mail.

    Safe to repeat: a second call changes nothing and awards nothing.
    """
    with transaction.atomic():
        account = ReferrerAccount.objects.select_for_update().filter(user=user).first()
        if account is None:
            account = account_create(user=user)
        if account.email_verified_at is not None:
            return account
        now = timezone.now()
        ReferrerAccount.objects.filter(pk=account.pk).update(email_verified_at=now)
        type(user).objects.filter(pk=user.pk).update(is_active=True)
        user.is_active = True
        account.email_verified_at = now
        person_known.send(
            sender=ReferrerAccount,
            email=user.email,
            source="account",
            email_confirmed=True,
            attribution=account.signup_attribution or {},
            ip=account.signup_ip,
            user=user,
        )
    return account


# --- Referrals ---------------------------------------------------------------------------------


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
    and (when installed) other apps' rows with an `email` and `created_at` older than the cutoff."""
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


def _remember_email(email, source, now):
    KnownEmail.objects.get_or_create(
        email=email, defaults={"first_source": source[:20], "first_seen_at": now}
    )


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
        _remember_email(email, source, now)
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


# --- Rewards and redemptions -----------------------------------------------------------------


def reward_redeem(*, account_id, reward_id, request_key):
    """Debit the points at once and open a redemption request for staff.

    Idempotent on `request_key` (sent with the form): a double-click redeems once.
    Raises InsufficientPoints or RewardUnavailable with a message for the referrer.
    """
    # Keys are namespaced by account, so one referrer's key can never collide with another's.
    request_key = f"{account_id}:{request_key}"[:64]
    with transaction.atomic():
        account = (
            ReferrerAccount.objects.select_for_update().select_related("user").get(pk=account_id)
        )
        existing = Redemption.objects.filter(request_key=request_key).first()
        if existing is not None:
            return existing
        reward = Reward.objects.filter(pk=reward_id, active=True).first()
        if reward is None:
            raise RewardUnavailable("That reward is no longer available.")
        if account.balance < reward.points_cost:
            raise InsufficientPoints(
                f"{reward.name} needs {reward.points_cost} points; you have {account.balance}."
            )
        if reward.stock is not None:
            # A conditional update is atomic: two redemptions of the last item cannot both win.
            taken = Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1)
            if not taken:
                raise RewardUnavailable(f"{reward.name} is out of stock.")
        redemption = Redemption.objects.create(
            account=account, reward=reward, points=reward.points_cost, request_key=request_key
        )
        ledger_post(
            account_id=account.pk,
            amount=-reward.points_cost,
            kind=LedgerEntry.Kind.REDEMPTION,
            key=f"redemption:{redemption.pk}",
            redemption=redemption,
            note=reward.name,
        )
        context = {
            "reward": reward.name,
            "points": reward.points_cost,
            "redemption_id": redemption.pk,
            "referrer": account.user.email,
            "dashboard_path": reverse("referrals:dashboard"),
            "admin_path": reverse("admin:referrals_redemption_change", args=[redemption.pk]),
        }
        email_enqueue(
            key=f"redemption-requested:{redemption.pk}",
            to=account.user.email,
            template="referral_redemption_requested",
            context=context,
        )
        email_enqueue(
            key=f"redemption-staff:{redemption.pk}",
            to=settings.STAFF_NOTIFICATION_EMAIL,
            template="referral_redemption_staff",
            context=context,
        )
    return redemption


def _redemption_for_update(redemption_id):
    return (
        Redemption.objects.select_for_update()
        .select_related("reward", "account__user")
        .get(pk=redemption_id)
    )


def redemption_fulfil(*, redemption_id, staff_user):
    with transaction.atomic():
        redemption = _redemption_for_update(redemption_id)
        if redemption.state != Redemption.State.REQUESTED:
            raise InvalidTransition(f"Redemption {redemption.pk} is {redemption.state}.")
        redemption.state = Redemption.State.FULFILLED
        redemption.decided_at = timezone.now()
        redemption.decided_by = staff_user
        redemption.save(update_fields=["state", "decided_at", "decided_by"])
        email_enqueue(
            key=f"redemption-fulfilled:{redemption.pk}",
            to=redemption.account.user.email,
            template="referral_redemption_fulfilled",
            context={"reward": redemption.reward.name, "points": redemption.points},
        )
    return redemption


def redemption_cancel(*, redemption_id, staff_user=None, note=""):
    """Cancel a request that is not fulfilled yet: refund the points and put the stock back."""
    with transaction.atomic():
        redemption = _redemption_for_update(redemption_id)
        if redemption.state != Redemption.State.REQUESTED:
            raise InvalidTransition(f"Redemption {redemption.pk} is {redemption.state}.")
        ledger_post(
            account_id=redemption.account_id,
            amount=redemption.points,
            kind=LedgerEntry.Kind.REFUND,
            key=f"refund:{redemption.pk}",
            redemption=redemption,
            created_by=staff_user,
            note=note or f"Cancelled: {redemption.reward.name}",
        )
        if redemption.reward.stock is not None:
            Reward.objects.filter(pk=redemption.reward_id).update(stock=F("stock") + 1)
        redemption.state = Redemption.State.CANCELLED
        redemption.decided_at = timezone.now()
        redemption.decided_by = staff_user
        redemption.staff_note = note[:300]
        redemption.save(update_fields=["state", "decided_at", "decided_by", "staff_note"])
        email_enqueue(
            key=f"redemption-cancelled:{redemption.pk}",
            to=redemption.account.user.email,
            template="referral_redemption_cancelled",
            context={
                "reward": redemption.reward.name,
                "points": redemption.points,
                "note": note,
                "by_staff": staff_user is not None,
            },
        )
    return redemption
