"""Rewards: redeeming points for one, and staff fulfilling or cancelling the request."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from skilldacity.outbox.services import email_enqueue, email_enqueue_many
from skilldacity.recentrows import RecentRows

from ..models import LedgerEntry, Redemption, Reward
from .errors import InsufficientPoints, InvalidTransition, PointsError, RewardUnavailable
from .ledger import balance_of, is_overdraft, ledger_post, ledger_post_last

# Every redemption needs its reward, and rewards change rarely (skilldacity/recentrows.py says how
# stale a process's copy may be). The points charged are recorded on the redemption; stock counts
# move by UPDATE and are never read from here.
active_rewards = RecentRows(Reward.objects.filter(active=True))


def reward_redeem(*, account, reward_id, request_key):
    """Debit the points at once and open a redemption request for staff.

    `account` is the caller's ReferrerAccount with its user (the dashboard has both loaded, so
    they are not read again); its cached `balance` is not trusted, the debit checks the stored one.
    Idempotent on `request_key` (sent with the form): a double-click redeems once, and the second
    click gets the first's redemption even when the points are gone by then.
    Raises InsufficientPoints or RewardUnavailable with a message for the referrer.
    """
    # Keys are namespaced by account, so one referrer's key can never collide with another's.
    request_key = f"{account.pk}:{request_key}"[:64]
    try:
        return _redeem(account=account, reward_id=reward_id, request_key=request_key)
    except (IntegrityError, PointsError) as error:
        # The unique request_key is the idempotency check: a second click's insert waits for the
        # first's commit and fails here. Looked up only on failure, so a redemption pays nothing.
        existing = (
            Redemption.objects.select_related("reward").filter(request_key=request_key).first()
        )
        if existing is not None:
            return existing
        if isinstance(error, IntegrityError):
            # Otherwise the reward was deleted since this process cached it.
            active_rewards.forget(reward_id)
            if active_rewards.get(reward_id) is None:
                raise RewardUnavailable("That reward is no longer available.") from None
        raise


def _redeem(*, account, reward_id, request_key):
    reward = active_rewards.get(reward_id)
    if reward is None:
        raise RewardUnavailable("That reward is no longer available.")
    email = account.user.email
    try:
        with transaction.atomic():
            if reward.stock is not None:
                # First, because the debit below is the last statement (it commits). The reward's
                # row is then locked before the account's, as in redemption_cancel, whose
                # SELECT ... FOR UPDATE takes both; conditional, so the last item goes once.
                taken = Reward.objects.filter(pk=reward.pk, stock__gt=0).update(
                    stock=F("stock") - 1
                )
                if not taken:
                    raise RewardUnavailable(f"{reward.name} is out of stock.")
            redemption = Redemption.objects.create(
                account=account, reward=reward, points=reward.points_cost, request_key=request_key
            )
            context = {
                "reward": reward.name,
                "points": reward.points_cost,
                "redemption_id": redemption.pk,
                "referrer": email,
                "dashboard_path": reverse("referrals:dashboard"),
                "admin_path": reverse("admin:referrals_redemption_change", args=[redemption.pk]),
            }
            email_enqueue_many(
                [
                    {
                        "key": f"redemption-requested:{redemption.pk}",
                        "to": email,
                        "template": "referral_redemption_requested",
                        "context": context,
                    },
                    {
                        "key": f"redemption-staff:{redemption.pk}",
                        "to": settings.STAFF_NOTIFICATION_EMAIL,
                        "template": "referral_redemption_staff",
                        "context": context,
                    },
                ]
            )
            # The debit is the last statement, so the account's row lock, which concurrent
            # redemptions from one account queue on, is held for that statement and the commit.
            ledger_post_last(
                account_id=account.pk,
                amount=-reward.points_cost,
                kind=LedgerEntry.Kind.REDEMPTION,
                key=f"redemption:{redemption.pk}",
                redemption=redemption,
                note=reward.name,
            )
    except IntegrityError as error:
        if is_overdraft(error):
            raise _short_of_points(reward, balance_of(account.pk)) from None
        raise
    return redemption


def _short_of_points(reward, balance):
    return InsufficientPoints(
        f"{reward.name} needs {reward.points_cost} points; you have {balance}.", balance=balance
    )


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
