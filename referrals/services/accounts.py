"""Referrer accounts: short codes, sign-up with a verification e-mail, verification."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from skilldacity.addresses import normalise_email
from skilldacity.outbox.services import email_enqueue
from skilldacity.signals import person_known

from ..models import ReferrerAccount

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud
CODE_LENGTH = 8
VERIFY_SALT = "referrals.account-verify"


def canonical_email(email):
    """The mailbox an address delivers to: `ann+x@example.com` is `ann@example.com`."""
    local, _, domain = normalise_email(email).partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


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
