"""The SkillPoints ledger: the only code that moves points.

Points move by appending an entry under a unique idempotency key and moving the cached balance in
the same transaction. The database's CHECK (balance >= 0) is the last line of defence; the row lock
makes concurrent debits queue up so the check is met by arithmetic, not by luck.
"""

import secrets

from django.db import transaction
from django.db.models import F

from ..models import LedgerEntry, ReferrerAccount
from .errors import InsufficientPoints, InvalidTransition, PointsError


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
