"""SkillPoints under concurrency, on PostgreSQL: real connections racing for the same rows."""

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import psycopg2.errors
import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

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


def test_a_redemption_frees_the_account_before_its_process_speaks_again(monkeypatch):
    """The debit and the COMMIT go to the server together: by the time Django ends its atomic
    block, another connection can lock the account row and sees the redemption committed. (Sent
    apart, every redemption of a shared account waited while the holder waited for a CPU.)"""
    account = AccountFactory()
    reward = RewardFactory(points_cost=10)
    fund(account, 100)
    other = psycopg2.connect(**connection.get_connection_params())
    seen_by_other = []
    django_commit = connection._commit

    def look_then_commit():
        if seen_by_other:  # the redemption's commit only, not the e-mail tasks' that follow
            return django_commit()
        with other.cursor() as cursor:
            try:
                cursor.execute(
                    "SELECT balance FROM referrals_referreraccount WHERE id = %s FOR UPDATE NOWAIT",
                    [account.pk],
                )
            except psycopg2.errors.LockNotAvailable:
                seen_by_other.append("account row still locked")
            else:
                cursor.execute(
                    "SELECT count(*) FROM referrals_redemption WHERE account_id = %s",
                    [account.pk],
                )
                seen_by_other.append(cursor.fetchone()[0])
        other.rollback()
        return django_commit()

    monkeypatch.setattr(connection, "_commit", look_then_commit)
    try:
        rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="one-trip")
    finally:
        other.close()
    assert seen_by_other == [1]
    account.refresh_from_db()
    assert account.balance == 90
    call_command("audit_skillpoints", quiet=True)


def test_a_redemption_inside_a_callers_transaction_commits_only_with_it():
    account = AccountFactory()
    reward = RewardFactory(points_cost=10)
    fund(account, 100)
    with pytest.raises(RuntimeError), transaction.atomic():
        rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="changed-mind")
        raise RuntimeError("the caller changes its mind after the redemption")
    account.refresh_from_db()
    assert account.balance == 100
    assert not Redemption.objects.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEMPTION).exists()


def test_not_enough_points_names_the_balance_and_the_next_redemption_goes_through():
    account = AccountFactory()
    reward = RewardFactory(name="Headset", points_cost=100)
    fund(account, 99)
    with pytest.raises(errors.InsufficientPoints, match="Headset needs 100 points; you have 99"):
        rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="short-by-1")
    assert not Redemption.objects.exists()
    ledger.ledger_post(
        account_id=account.pk, amount=1, kind=LedgerEntry.Kind.ADJUSTMENT, key="top-up"
    )
    rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="after-top-up")
    account.refresh_from_db()
    assert account.balance == 0
    assert Redemption.objects.count() == 1
    call_command("audit_skillpoints", quiet=True)


def test_a_redemption_leaves_no_warning_in_the_server_log():
    """The debit's statement ends with BEGIN, so Django's own COMMIT closes an open transaction:
    without it PostgreSQL would log "there is no transaction in progress" for every redemption."""
    account = AccountFactory()
    reward = RewardFactory(points_cost=10)
    fund(account, 100)
    connection.ensure_connection()
    notices = connection.connection.notices
    notices.clear()
    rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="quiet-commit")
    assert not [notice for notice in notices if "no transaction in progress" in notice]
    account.refresh_from_db()
    assert account.balance == 90
