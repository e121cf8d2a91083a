"""Staff work SkillPoints through the admin; the ledger stays append-only there too."""

import pytest
from django.urls import reverse

from referrals.models import LedgerEntry, Redemption, Referral, ReferrerAccount
from referrals.services import ledger, rewards

from .factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_client):
    return admin_client


def post_points(account, amount, key):
    return ledger.ledger_post(
        account_id=account.pk, amount=amount, kind=LedgerEntry.Kind.ADJUSTMENT, key=key
    )[0]


@pytest.mark.parametrize(
    "name", ["referreraccount", "referral", "ledgerentry", "redemption", "reward"]
)
def test_changelists_render_in_fixed_queries(
    staff, referrer, reward, name, django_assert_max_num_queries
):
    for n in range(15):
        post_points(referrer, 10, f"k{n}")
        Referral.objects.create(referrer=referrer, email=f"f{n}@example.com")
    rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="admin-test")
    with django_assert_max_num_queries(12):
        response = staff.get(reverse(f"admin:referrals_{name}_changelist"))
    assert response.status_code == 200


def test_ledger_entry_cannot_be_changed_or_deleted_in_admin(staff, referrer):
    entry = post_points(referrer, 50, "k1")
    change = staff.get(reverse("admin:referrals_ledgerentry_change", args=[entry.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert (
        staff.post(
            reverse("admin:referrals_ledgerentry_change", args=[entry.pk]), {"amount": 5000}
        ).status_code
        == 403
    )
    assert (
        staff.post(
            reverse("admin:referrals_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert staff.get(reverse("admin:referrals_ledgerentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.amount == 50


def test_adjustment_form_writes_an_entry(staff, referrer, admin_user):
    url = reverse("admin:referrals_ledgerentry_adjust")
    assert (
        b"Adjust a balance" in staff.get(reverse("admin:referrals_ledgerentry_changelist")).content
    )
    response = staff.post(url, {"account": referrer.pk, "amount": 25, "note": "Goodwill"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get()
    assert (entry.amount, entry.kind, entry.created_by, entry.note) == (
        25,
        "adjustment",
        admin_user,
        "Goodwill",
    )
    assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 25


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": -26, "note": "Too much"}, "balance is 25"),
        ({"amount": 0, "note": "Nothing"}, "other than zero"),
        ({"amount": "lots", "note": "x"}, "Enter a whole number"),
        ({"amount": 5, "note": ""}, "This field is required"),
    ],
)
def test_bad_adjustment_shows_the_error_and_writes_nothing(staff, referrer, data, message):
    post_points(referrer, 25, "start")
    response = staff.post(
        reverse("admin:referrals_ledgerentry_adjust"), {"account": referrer.pk, **data}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert LedgerEntry.objects.count() == 1
    assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 25


def test_reverse_action_posts_a_reversal(staff, referrer):
    entry = post_points(referrer, 40, "k1")
    staff.post(
        reverse("admin:referrals_ledgerentry_changelist"),
        {"action": "reverse_entries", "_selected_action": [entry.pk]},
    )
    assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 0
    assert LedgerEntry.objects.filter(kind="reversal", reverses=entry).count() == 1


def test_approve_and_reject_held_referrals(staff, referrer):
    held = Referral.objects.create(
        referrer=referrer,
        email="ref+1@example.com",
        state=Referral.State.REVIEW,
        email_confirmed_at="2026-01-01T00:00:00Z",
    )
    other = Referral.objects.create(
        referrer=referrer, email="bulk@example.com", state=Referral.State.REVIEW
    )
    url = reverse("admin:referrals_referral_changelist")
    staff.post(url, {"action": "approve", "_selected_action": [held.pk]})
    staff.post(url, {"action": "reject", "_selected_action": [other.pk]})
    held.refresh_from_db()
    other.refresh_from_db()
    assert held.state == Referral.State.QUALIFIED
    assert other.state == Referral.State.REJECTED
    assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 100


def test_fulfil_and_cancel_redemptions(staff, referrer, reward):
    post_points(referrer, 200, "k1")
    first = rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="one-1234")
    second = rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="two-1234")
    url = reverse("admin:referrals_redemption_changelist")
    staff.post(url, {"action": "fulfil", "_selected_action": [first.pk]})
    staff.post(url, {"action": "cancel", "_selected_action": [second.pk]})
    response = staff.post(url, {"action": "cancel", "_selected_action": [first.pk]}, follow=True)
    assert "is fulfilled" in response.content.decode()
    states = dict(Redemption.objects.values_list("pk", "state"))
    assert states == {first.pk: "fulfilled", second.pk: "cancelled"}
    assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 100


def test_staff_without_permission_cannot_adjust(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", "clerk@example.com", "pw", is_staff=True)
    client.force_login(clerk)
    AccountFactory()
    assert client.get(reverse("admin:referrals_ledgerentry_adjust")).status_code == 403
