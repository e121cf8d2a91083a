"""The ledger: points move only by appending entries, and the cached balance follows them."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from referrals.models import (
    ImmutableEntryError,
    LedgerEntry,
    Redemption,
    ReferrerAccount,
    Reward,
)
from referrals.services import errors, ledger, rewards
from skilldacity import recentrows
from skilldacity.outbox.models import Email

from .factories import RewardFactory

pytestmark = pytest.mark.django_db


def _award(account, amount=100, key="award:1"):
    return ledger.ledger_post(
        account_id=account.pk, amount=amount, kind=LedgerEntry.Kind.ADJUSTMENT, key=key
    )


def _balance(account):
    return ReferrerAccount.objects.values_list("balance", flat=True).get(pk=account.pk)


def test_posting_moves_the_cached_balance(referrer):
    entry, created = _award(referrer, 150)
    assert created and entry.amount == 150
    assert _balance(referrer) == 150


def test_same_key_posts_once(referrer):
    first, _ = _award(referrer, 100, key="event:7")
    second, created = _award(referrer, 100, key="event:7")
    assert not created and second.pk == first.pk
    assert _balance(referrer) == 100
    assert LedgerEntry.objects.count() == 1


def test_debit_beyond_balance_is_refused_and_writes_nothing(referrer):
    _award(referrer, 50)
    with pytest.raises(errors.InsufficientPoints):
        _award(referrer, -51, key="debit:1")
    assert _balance(referrer) == 50
    assert LedgerEntry.objects.count() == 1


def test_entries_cannot_be_edited_or_deleted(referrer):
    entry, _ = _award(referrer)
    entry.amount = 1_000_000
    with pytest.raises(ImmutableEntryError):
        entry.save()
    with pytest.raises(ImmutableEntryError):
        entry.delete()
    assert LedgerEntry.objects.get().amount == 100


def test_a_reversal_cancels_an_entry_once(referrer):
    entry, _ = _award(referrer, 80)
    reversal = ledger.entry_reverse(entry_id=entry.pk)
    again = ledger.entry_reverse(entry_id=entry.pk)
    assert reversal.pk == again.pk and reversal.amount == -80
    assert _balance(referrer) == 0
    with pytest.raises(errors.InvalidTransition):
        ledger.entry_reverse(entry_id=reversal.pk)


def test_audit_passes_when_balances_match(referrer, capsys):
    _award(referrer, 70)
    call_command("audit_skillpoints")
    captured = capsys.readouterr()
    assert "OK" in captured.out
    assert "checked 1/1 accounts" in captured.err


def test_audit_reports_drift_and_fails(referrer, capsys):
    _award(referrer, 70)
    # Simulates a bug or a hand edit in the database that bypassed the ledger.
    ReferrerAccount.objects.filter(pk=referrer.pk).update(balance=95)
    with pytest.raises(CommandError, match="1 account"):
        call_command("audit_skillpoints", quiet=True)
    assert f"DRIFT account {referrer.pk}: cached balance 95, entries sum to 70" in (
        capsys.readouterr().out
    )


class TestRedemption:
    def test_debits_at_once_and_tells_both_sides(self, referrer, reward, settings):
        _award(referrer, 130)
        redemption = rewards.reward_redeem(
            account=referrer, reward_id=reward.pk, request_key="k" * 10
        )
        assert redemption.state == Redemption.State.REQUESTED
        assert _balance(referrer) == 30
        debit = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REDEMPTION)
        assert debit.amount == -100 and debit.redemption == redemption
        recipients = set(Email.objects.values_list("to", "template"))
        assert recipients == {
            ("ref@example.com", "referral_redemption_requested"),
            (settings.STAFF_NOTIFICATION_EMAIL, "referral_redemption_staff"),
        }

    def test_double_click_redeems_once(self, referrer, reward):
        _award(referrer, 300)
        first = rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="same-key")
        second = rewards.reward_redeem(
            account=referrer, reward_id=reward.pk, request_key="same-key"
        )
        assert first.pk == second.pk
        assert _balance(referrer) == 200

    def test_second_click_after_the_points_are_spent_gets_the_first_redemption(
        self, referrer, reward
    ):
        _award(referrer, 100)
        first = rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="twice")
        second = rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="twice")
        assert first.pk == second.pk and second.reward.name == "Tablet stylus"
        assert _balance(referrer) == 0

    def test_a_redemption_is_five_statements(self, referrer, reward, django_assert_num_queries):
        # The reward, then one INSERT each for the redemption, both e-mails and the ledger entry,
        # and the debit last; the dashboard hands over the account and its user. (SAVEPOINT and
        # RELEASE: the test's own transaction around it; outside tests they are BEGIN/COMMIT.)
        _award(referrer, 100)
        account = ReferrerAccount.objects.select_related("user").get(pk=referrer.pk)
        with django_assert_num_queries(7) as captured:
            rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="counted")
        statements = [query["sql"].split()[0] for query in captured.captured_queries]
        assert statements == [
            "SELECT", "SAVEPOINT", "INSERT", "INSERT", "INSERT", "UPDATE", "RELEASE"
        ]  # fmt: skip
        assert _balance(referrer) == 0

    def test_the_reward_is_read_once_per_process_not_once_per_redemption(
        self, referrer, reward, django_assert_num_queries
    ):
        _award(referrer, 300)
        account = ReferrerAccount.objects.select_related("user").get(pk=referrer.pk)
        rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="warm-up")
        with django_assert_num_queries(6) as captured:
            rewards.reward_redeem(account=account, reward_id=reward.pk, request_key="from-cache")
        assert "SELECT" not in [query["sql"].split()[0] for query in captured.captured_queries]

    def test_a_reward_changed_in_the_admin_counts_at_once(self, referrer, reward):
        _award(referrer, 300)
        rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="old-price")
        reward.points_cost = 40
        reward.save()
        again = rewards.reward_redeem(
            account=referrer, reward_id=reward.pk, request_key="new-price"
        )
        assert again.points == 40 and _balance(referrer) == 160
        reward.active = False
        reward.save()
        with pytest.raises(errors.RewardUnavailable):
            rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="withdrawn")

    def test_a_reward_changed_by_another_process_counts_within_seconds(
        self, referrer, reward, monkeypatch
    ):
        _award(referrer, 300)
        rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="old-price")
        Reward.objects.filter(pk=reward.pk).update(points_cost=40)  # no signal reaches us
        later = recentrows.monotonic() + rewards.active_rewards.seconds + 1
        monkeypatch.setattr(recentrows, "monotonic", lambda: later)
        again = rewards.reward_redeem(
            account=referrer, reward_id=reward.pk, request_key="new-price"
        )
        assert again.points == 40 and _balance(referrer) == 160

    def test_not_enough_points_changes_nothing(self, referrer, reward):
        _award(referrer, 99)
        with pytest.raises(errors.InsufficientPoints, match="needs 100 points; you have 99"):
            rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="k1234567")
        assert not Redemption.objects.exists()
        assert _balance(referrer) == 99

    def test_stock_is_taken_and_the_last_item_goes_once(self, referrer):
        reward = RewardFactory(points_cost=10, stock=1)
        _award(referrer, 100)
        rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="first-click")
        with pytest.raises(errors.RewardUnavailable, match="out of stock"):
            rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="second-click")
        reward.refresh_from_db()
        assert reward.stock == 0
        assert _balance(referrer) == 90

    def test_a_stocked_reward_the_referrer_cannot_afford_keeps_its_stock(self, referrer):
        # The stock is taken before the debit, which comes last: the refusal puts it back.
        reward = RewardFactory(name="Headset", points_cost=50, stock=1)
        _award(referrer, 49)
        with pytest.raises(errors.InsufficientPoints, match="Headset needs 50 points; you have 49"):
            rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="short-click")
        reward.refresh_from_db()
        assert reward.stock == 1
        assert not Redemption.objects.exists()
        assert _balance(referrer) == 49

    def test_inactive_reward_cannot_be_redeemed(self, referrer):
        reward = RewardFactory(points_cost=10, active=False)
        _award(referrer, 100)
        with pytest.raises(errors.RewardUnavailable):
            rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="k1234567")

    def test_cancel_refunds_and_returns_stock(self, referrer, admin_user):
        reward = RewardFactory(points_cost=40, stock=3)
        _award(referrer, 100)
        redemption = rewards.reward_redeem(
            account=referrer, reward_id=reward.pk, request_key="k1234567"
        )
        rewards.redemption_cancel(
            redemption_id=redemption.pk, staff_user=admin_user, note="No longer made"
        )
        redemption.refresh_from_db()
        reward.refresh_from_db()
        assert redemption.state == Redemption.State.CANCELLED
        assert reward.stock == 3
        assert _balance(referrer) == 100
        refund = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REFUND)
        assert refund.amount == 40 and refund.created_by == admin_user
        cancelled = Email.objects.get(template="referral_redemption_cancelled")
        assert cancelled.context["note"] == "No longer made"
        with pytest.raises(errors.InvalidTransition):
            rewards.redemption_cancel(redemption_id=redemption.pk)
        assert _balance(referrer) == 100

    def test_fulfilled_cannot_be_cancelled(self, referrer, reward, admin_user):
        _award(referrer, 100)
        redemption = rewards.reward_redeem(
            account=referrer, reward_id=reward.pk, request_key="k1234567"
        )
        rewards.redemption_fulfil(redemption_id=redemption.pk, staff_user=admin_user)
        with pytest.raises(errors.InvalidTransition):
            rewards.redemption_cancel(redemption_id=redemption.pk)
        assert Email.objects.filter(template="referral_redemption_fulfilled").count() == 1
        assert _balance(referrer) == 0
