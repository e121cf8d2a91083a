"""Discount codes: issued once per subscriber on confirmation, checked and redeemed by the
checkout. A redemption is one conditional UPDATE, so two racing checkouts cannot both use a code."""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import DiscountCode

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L or U/V look-alikes: a code read aloud or typed from a phone gets through.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_PREFIX = "SKILL"
CODE_ATTEMPTS = 8


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
