"""SkillPoints under concurrency, on PostgreSQL: real connections racing for the same rows."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connections, transaction

from referrals.models import LedgerEntry, Redemption, Referral, ReferrerAccount
from referrals.services import errors, ledger, rewards
from skilldacity.signals import person_known
from tests.referrals.factories import AccountFactory, RewardFactory

pytestmark = pytest.mark.django_db(transaction=True)
CLIENTS = 32


def race(count, work):
    """Run `work(i)` in `count` threads, each on its own DB connection, released together."""
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait(timeout=30)
            return work(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def fund(account, amount):
    ledger.ledger_post(
        account_id=account.pk,
        amount=amount,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        key=f"fund:{account.pk}",
    )


def attempt_redeem(account, reward, key):
    try:
        rewards.reward_redeem(account=account, reward_id=reward.pk, request_key=key)
    except errors.PointsError as error:
        return type(error).__name__
    return "ok"


def test_32_concurrent_redemptions_against_a_balance_for_one():
    account = AccountFactory()
    reward = RewardFactory(points_cost=100)
    fund(account, 150)
    outcomes = race(CLIENTS, lambda i: attempt_redeem(account, reward, f"click-{i}"))
    assert outcomes.count("ok") == 1
    assert outcomes.count("InsufficientPoints") == CLIENTS - 1
    account.refresh_from_db()
    assert account.balance == 50
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEMPTION).count() == 1
    assert Redemption.objects.count() == 1
    call_command("audit_skillpoints", quiet=True)


def test_32_referrers_racing_for_the_last_item_in_stock():
    reward = RewardFactory(points_cost=10, stock=1)
    accounts = [AccountFactory() for _ in range(CLIENTS)]
    for account in accounts:
        fund(account, 10)
    outcomes = race(CLIENTS, lambda i: attempt_redeem(accounts[i], reward, f"stock-{i}"))
    assert outcomes.count("ok") == 1
    assert outcomes.count("RewardUnavailable") == CLIENTS - 1
    reward.refresh_from_db()
    assert reward.stock == 0
    assert sum(ReferrerAccount.objects.values_list("balance", flat=True)) == 10 * CLIENTS - 10


def test_the_same_qualifying_event_delivered_concurrently_awards_once():
    referrer = AccountFactory(code="RACECODE")

    def deliver(_):
        with transaction.atomic():
            person_known.send(
                sender=None,
                email="friend@example.com",
                source="newsletter",
                email_confirmed=True,
                attribution={"ref": "RACECODE"},
                ip="198.51.100.7",
                user=None,
            )

    race(8, deliver)
    referrer.refresh_from_db()
    assert referrer.balance == 100
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFERRAL_AWARD).count() == 1
    assert Referral.objects.get().state == Referral.State.QUALIFIED


def test_the_same_award_key_twice_awards_once():
    account = AccountFactory()
    outcomes = race(
        8,
        lambda _: ledger.ledger_post(
            account_id=account.pk, amount=100, kind=LedgerEntry.Kind.REFERRAL_AWARD, key="award:1"
        )[1],
    )
    assert outcomes.count(True) == 1
    account.refresh_from_db()
    assert account.balance == 100


def test_database_refuses_edits_deletes_and_negative_balances():
    account = AccountFactory()
    fund(account, 10)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.update(amount=1000)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.all().delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReferrerAccount.objects.filter(pk=account.pk).update(balance=-1)
    assert LedgerEntry.objects.get().amount == 10
