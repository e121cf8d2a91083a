"""The referrer's dashboard: what the owner sees, in a fixed number of queries, and nobody else."""

import string

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referrals.models import LedgerEntry, Redemption, Referral, ReferrerAccount
from referrals.services import ledger, rewards
from skilldacity import pagecache

from .factories import AccountFactory, RewardFactory

pytestmark = pytest.mark.django_db


def fill(account, *, entries, referrals):
    for n in range(entries):
        ledger.ledger_post(
            account_id=account.pk,
            amount=10,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            key=f"{account.pk}:{n}",
            note=f"entry {n}",
        )
    for n in range(referrals):
        Referral.objects.create(referrer=account, email=f"friend{account.pk}-{n}@example.com")


@pytest.fixture
def signed_in(client, referrer):
    client.force_login(referrer.user)
    return client


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("referrals:dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_shows_balance_link_masked_referrals_and_affordable_rewards(signed_in, referrer):
    fill(referrer, entries=3, referrals=0)
    Referral.objects.create(
        referrer=referrer, email="alice@example.org", state=Referral.State.QUALIFIED
    )
    RewardFactory(name="Cheap cable", points_cost=20)
    RewardFactory(name="Laptop", points_cost=5000)
    RewardFactory(name="Sold out", points_cost=10, stock=0)
    page = signed_in.get(reverse("referrals:dashboard")).content.decode()
    assert 'data-testid="balance">30<' in page
    assert f"/r/{referrer.code}/" in page
    assert "a***@example.org" in page and "alice@example.org" not in page
    assert "Qualified" in page
    assert "Cheap cable" in page
    assert "Laptop" not in page and "Sold out" not in page
    assert "referrals/dashboard.js" in page
    assert "<script>" not in page  # CSP: script-src 'self', nothing inline


def test_fixed_number_of_queries_whatever_the_history(
    signed_in, referrer, django_assert_max_num_queries
):
    """session (unless cached), user, account, referrals, referral counts, history page, rewards,
    redemptions: the same with one entry or sixty."""
    RewardFactory(points_cost=5)
    fill(referrer, entries=1, referrals=1)
    pagecache.current_generation()  # the footer form's cache generation: once, not per page
    with django_assert_max_num_queries(8) as small:
        assert signed_in.get(reverse("referrals:dashboard")).status_code == 200
    for n in range(60):
        ledger.ledger_post(
            account_id=referrer.pk, amount=1, kind=LedgerEntry.Kind.ADJUSTMENT, key=f"more:{n}"
        )
        Referral.objects.create(referrer=referrer, email=f"more{n}@example.com")
    with django_assert_max_num_queries(8) as big:
        assert signed_in.get(reverse("referrals:dashboard")).status_code == 200
    assert len(small) == len(big)


def test_history_pages_walk_back_to_the_first_entry(signed_in, referrer):
    fill(referrer, entries=45, referrals=0)
    url = reverse("referrals:dashboard")
    seen, page = [], signed_in.get(url)
    while True:
        seen += [entry.note for entry in page.context["history"]]
        if not page.context["older_than"]:
            break
        page = signed_in.get(url, {"before": page.context["older_than"]})
    assert seen == [f"entry {n}" for n in range(44, -1, -1)]
    assert "Latest" in page.content.decode()


@pytest.mark.parametrize("before", ["x'; drop", "-1", "9" * 40, ""])
def test_odd_history_cursors_are_harmless(signed_in, referrer, before):
    fill(referrer, entries=3, referrals=0)
    response = signed_in.get(reverse("referrals:dashboard"), {"before": before})
    assert response.status_code == 200


def test_staff_without_an_account_get_one(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("referrals:dashboard")).status_code == 200
    assert ReferrerAccount.objects.filter(user=admin_user).exists()


class TestRedeemView:
    def test_redeem_from_the_dashboard(self, signed_in, referrer, reward):
        fill(referrer, entries=12, referrals=0)
        response = signed_in.post(
            reverse("referrals:redeem"), {"reward": reward.pk, "request_key": "a" * 32}, follow=True
        )
        assert "Redeemed Tablet stylus for 100 points" in response.content.decode()
        referrer.refresh_from_db()
        assert referrer.balance == 20
        assert Redemption.objects.get().account == referrer

    def test_not_enough_points_says_so(self, signed_in, reward):
        response = signed_in.post(
            reverse("referrals:redeem"), {"reward": reward.pk, "request_key": "a" * 32}, follow=True
        )
        assert "needs 100 points; you have 0" in response.content.decode()
        assert not Redemption.objects.exists()

    def test_get_is_not_allowed(self, signed_in):
        assert signed_in.get(reverse("referrals:redeem")).status_code == 405

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        reward=st.one_of(st.text(max_size=30), st.integers().map(str)),
        key=st.text(alphabet=string.printable, max_size=80),
    )
    def test_hostile_posts_never_fail(self, signed_in, reward, key):
        response = signed_in.post(
            reverse("referrals:redeem"), {"reward": reward, "request_key": key}
        )
        assert response.status_code == 302
        assert not Redemption.objects.exists()


def open_redemption(account, reward):
    fill(account, entries=10, referrals=0)
    return rewards.reward_redeem(
        account=account, reward_id=reward.pk, request_key=f"request-{account.pk}"
    )


class TestOwnerOnly:
    """No endpoint lets one referrer see or change another's data."""

    def test_cannot_cancel_someone_elses_redemption(self, signed_in, reward):
        other = AccountFactory()
        theirs = open_redemption(other, reward)
        response = signed_in.post(reverse("referrals:redemption_cancel", args=[theirs.pk]))
        assert response.status_code == 404
        theirs.refresh_from_db()
        other.refresh_from_db()
        assert theirs.state == Redemption.State.REQUESTED and other.balance == 0

    def test_can_cancel_their_own_open_request(self, signed_in, referrer, reward):
        mine = open_redemption(referrer, reward)
        response = signed_in.post(reverse("referrals:redemption_cancel", args=[mine.pk]))
        assert response.status_code == 302
        referrer.refresh_from_db()
        assert referrer.balance == 100

    def test_reusing_another_referrers_request_key_redeems_for_yourself(
        self, signed_in, referrer, reward
    ):
        other = AccountFactory()
        theirs = open_redemption(other, reward)
        fill(referrer, entries=10, referrals=0)
        their_key = theirs.request_key.split(":", 1)[1]
        response = signed_in.post(
            reverse("referrals:redeem"), {"reward": reward.pk, "request_key": their_key}
        )
        assert response.status_code == 302
        mine = Redemption.objects.exclude(pk=theirs.pk).get()
        assert mine.account == referrer
        theirs.refresh_from_db()
        assert theirs.account == other

    def test_dashboard_ignores_other_ids_in_the_query(self, signed_in, referrer):
        other = AccountFactory(user__email="secret@example.com")
        fill(other, entries=2, referrals=1)
        for params in ({"account": other.pk}, {"user": other.user_id}, {"id": other.pk}):
            page = signed_in.get(reverse("referrals:dashboard"), params).content.decode()
            assert other.code not in page
            assert f"friend{other.pk}" not in page
            assert 'data-testid="balance">0<' in page

    def test_redeem_always_debits_the_signed_in_account(self, signed_in, referrer, reward):
        other = AccountFactory()
        fill(other, entries=10, referrals=0)
        signed_in.post(
            reverse("referrals:redeem"),
            {"reward": reward.pk, "request_key": "b" * 32, "account": other.pk},
        )
        other.refresh_from_db()
        assert other.balance == 100
        assert not Redemption.objects.exists()

    def test_staff_admin_is_closed_to_referrers(self, signed_in):
        response = signed_in.get(reverse("admin:referrals_ledgerentry_changelist"))
        assert response.status_code == 302
        assert "/admin/login/" in response.url
