"""Random runs of awards, redemptions, refunds, reversals and adjustments (hypothesis stateful).

A simple model tracks what the balance must be; after every step the cached balance equals both the
model and the sum of the ledger entries, and it is never negative.
"""

import itertools
import uuid

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from referrals.models import LedgerEntry, Redemption, ReferrerAccount
from referrals.services import errors, ledger, rewards
from tests.referrals.factories import AccountFactory, RewardFactory

pytestmark = pytest.mark.django_db
_accounts = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    awards = Bundle("awards")
    redemptions = Bundle("redemptions")

    def __init__(self):
        super().__init__()
        number = next(_accounts)
        self.account = AccountFactory(code=f"SM{number:06d}", user__email=f"sm{number}@example.com")
        self.rewards = [
            RewardFactory(name=f"sm{number}-{cost}", slug=f"sm{number}-{cost}", points_cost=cost)
            for cost in (30, 100, 250)
        ]
        self.expected = 0
        self.reversed = set()
        self.open_redemptions = set()

    @rule(target=awards, amount=st.integers(min_value=1, max_value=400))
    def award(self, amount):
        entry, created = ledger.ledger_post(
            account_id=self.account.pk,
            amount=amount,
            kind=LedgerEntry.Kind.REFERRAL_AWARD,
            key=f"award:{uuid.uuid4()}",
        )
        assert created
        self.expected += amount
        return entry

    @rule(entry=awards)
    def deliver_again(self, entry):
        _, created = ledger.ledger_post(
            account_id=self.account.pk,
            amount=entry.amount,
            kind=entry.kind,
            key=entry.idempotency_key,
        )
        assert not created

    @rule(target=redemptions, choice=st.integers(min_value=0, max_value=2))
    def redeem(self, choice):
        reward = self.rewards[choice]
        try:
            redemption = rewards.reward_redeem(
                account=self.account, reward_id=reward.pk, request_key=uuid.uuid4().hex
            )
        except errors.InsufficientPoints:
            assert self.expected < reward.points_cost
            return None
        assert self.expected >= reward.points_cost
        self.expected -= reward.points_cost
        self.open_redemptions.add(redemption.pk)
        return redemption

    @rule(redemption=redemptions, fulfil=st.booleans())
    def close(self, redemption, fulfil):
        if redemption is None:
            return
        was_open = redemption.pk in self.open_redemptions
        try:
            if fulfil:
                rewards.redemption_fulfil(redemption_id=redemption.pk, staff_user=None)
            else:
                rewards.redemption_cancel(redemption_id=redemption.pk)
        except errors.InvalidTransition:
            assert not was_open
            return
        assert was_open
        self.open_redemptions.discard(redemption.pk)
        if not fulfil:
            self.expected += redemption.points

    @rule(entry=awards)
    def reverse(self, entry):
        try:
            ledger.entry_reverse(entry_id=entry.pk)
        except errors.InsufficientPoints:
            assert entry.pk not in self.reversed and self.expected < entry.amount
            return
        if entry.pk not in self.reversed:
            self.reversed.add(entry.pk)
            self.expected -= entry.amount

    @rule(amount=st.integers(min_value=-500, max_value=500).filter(bool))
    def adjust(self, amount):
        try:
            ledger.points_adjust(
                account_id=self.account.pk, amount=amount, note="test", staff_user=None
            )
        except errors.InsufficientPoints:
            assert self.expected + amount < 0
            return
        self.expected += amount

    @invariant()
    def balance_is_the_sum_of_entries_and_never_negative(self):
        cached = ReferrerAccount.objects.get(pk=self.account.pk).balance
        total = LedgerEntry.objects.filter(account=self.account).aggregate(t=Sum("amount"))["t"]
        assert cached == (total or 0) == self.expected
        assert cached >= 0

    @invariant()
    def open_requests_match(self):
        open_ids = set(
            Redemption.objects.filter(
                account=self.account, state=Redemption.State.REQUESTED
            ).values_list("pk", flat=True)
        )
        assert open_ids == self.open_redemptions


LedgerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_ledger_state_machine(db):
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(LedgerMachine, settings=LedgerMachine.TestCase.settings)
