"""Who earns points for whom: the rules behind `person_known`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from referrals.models import KnownEmail, LedgerEntry, Referral, ReferrerAccount
from referrals.services import errors, rewards, rules
from skilldacity.outbox.models import Email
from skilldacity.signals import person_known

from .factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def known(email, *, code="CODE-REF", confirmed=True, source="newsletter", ip="10.0.0.1", **extra):
    attribution = {"ref": code} if code else {}
    attribution.update(extra.pop("attribution", {}))
    person_known.send(
        sender=None,
        email=email,
        source=source,
        email_confirmed=confirmed,
        attribution=attribution,
        ip=ip,
        user=extra.pop("user", None),
    )
    return Referral.objects.filter(email=email.lower()).first()


@pytest.fixture
def referrer(db):
    return AccountFactory(user__email="ref@example.com", code="CODE-REF")


def balance(account):
    return ReferrerAccount.objects.values_list("balance", flat=True).get(pk=account.pk)


def test_lead_records_pending_and_confirmation_pays(referrer):
    referral = known("Friend@Example.com", confirmed=False, source="lead")
    assert referral.state == Referral.State.PENDING
    assert balance(referrer) == 0
    # The newsletter confirmation later may come from another browser, without the ref code.
    referral = known("friend@example.com", code="", confirmed=True)
    assert referral.state == Referral.State.QUALIFIED
    assert balance(referrer) == 100
    message = Email.objects.get(template="referral_qualified")
    assert message.to == "ref@example.com"
    assert message.context["friend"] == "f***@example.com"


def test_same_qualifying_event_twice_awards_once(referrer):
    known("friend@example.com")
    known("friend@example.com")
    assert balance(referrer) == 100
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REFERRAL_AWARD).count() == 1


def test_points_per_referral_is_configurable(referrer, settings):
    settings.SKILLPOINTS_PER_REFERRAL = 250
    known("friend@example.com")
    assert balance(referrer) == 250


def test_no_referral_without_a_code_or_with_an_unknown_one(referrer):
    assert known("a@example.com", code="") is None
    assert known("b@example.com", code="NOSUCH") is None
    assert balance(referrer) == 0


def test_unverified_referrer_code_does_not_count(db):
    AccountFactory(code="UNVERIFIED", email_verified_at=None)
    assert known("friend@example.com", code="UNVERIFIED") is None


@pytest.mark.parametrize("email", ["ref@example.com", "REF@example.com"])
def test_own_address_is_not_a_referral(referrer, email):
    assert known(email) is None
    assert balance(referrer) == 0


def test_own_account_is_not_a_referral(referrer):
    assert known("other-address@example.com", user=referrer.user) is None


def test_plus_addressed_own_address_is_held_for_review(referrer):
    referral = known("ref+friend@example.com")
    assert referral.state == Referral.State.REVIEW
    assert "Plus-addressed" in referral.review_reason
    assert balance(referrer) == 0


def test_several_plus_variants_of_one_address_are_held(referrer):
    assert known("sam+1@example.com").state == Referral.State.QUALIFIED
    assert known("sam+2@example.com").state == Referral.State.REVIEW
    assert balance(referrer) == 100


def test_many_referrals_from_one_ip_are_held(referrer, settings):
    settings.REFERRAL_REVIEW_IP_LIMIT = 3
    states = [known(f"f{n}@example.com", ip="192.0.2.9").state for n in range(5)]
    assert states == ["qualified"] * 3 + ["review"] * 2
    assert balance(referrer) == 300


def test_person_with_an_account_already_was_known(referrer):
    UserFactory(email="Existing@example.com")
    assert known("existing@example.com") is None
    assert balance(referrer) == 0


def test_friends_own_unverified_signup_does_not_make_them_known(referrer):
    UserFactory(email="friend@example.com", is_active=False)
    referral = known("friend@example.com", source="newsletter")
    assert referral.state == Referral.State.QUALIFIED
    assert balance(referrer) == 100


def test_person_seen_before_the_referral_was_known(referrer):
    KnownEmail.objects.create(
        email="old@example.com",
        first_source="lead",
        first_seen_at=timezone.now() - timedelta(days=40),
    )
    seen = (timezone.now() - timedelta(days=1)).isoformat()
    assert known("old@example.com", attribution={"ref_seen_at": seen}) is None


def test_earlier_event_without_code_makes_the_person_known(referrer):
    known("friend@example.com", code="", confirmed=False, source="newsletter")
    assert known("friend@example.com") is None
    assert balance(referrer) == 0


def submit_lead(email):
    from leads.demo import seed_catalogue
    from leads.models import Course, DevicePlatform, Lead
    from leads.services import lead_submit

    seed_catalogue()
    lead, _ = lead_submit(
        kind=Lead.Kind.CALLBACK,
        fields={
            "name": "Friend",
            "email": email,
            "phone": "+447911123456",
            "platform": DevicePlatform.objects.first(),
            "message": "",
        },
        courses=[Course.objects.first()],
        consent_text="I agree",
        attribution={},
        source_path="/contact/",
        article=None,
        ip="10.0.0.9",
    )
    return lead


def test_an_earlier_lead_makes_its_sender_known_without_a_copy_of_the_address(referrer):
    submit_lead("Friend@Example.com")
    assert not KnownEmail.objects.exists()
    assert known("friend@example.com") is None
    assert balance(referrer) == 0


def test_an_erased_lead_no_longer_makes_its_sender_known(referrer):
    """The copy of a lead's address in KnownEmail outlived the lead's erasure (and the end of
    its retention): the erased person stayed "known" to the referral rules for ever."""
    from leads.services import person_erase

    submit_lead("friend@example.com")
    person_erase(email="friend@example.com", actor=None)
    referral = known("friend@example.com")
    assert referral.state == Referral.State.QUALIFIED
    assert balance(referrer) == 100


def test_the_migration_forgets_the_lead_addresses_copied_so_far(db):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("referrals.migrations.0006_forget_lead_addresses")
    now = timezone.now()
    for email, source in [("lead@example.com", "lead"), ("news@example.com", "newsletter")]:
        KnownEmail.objects.create(email=email, first_source=source, first_seen_at=now)
    migration.forget_lead_addresses(apps, None)
    assert list(KnownEmail.objects.values_list("email", flat=True)) == ["news@example.com"]


def test_first_referrer_keeps_the_credit(referrer):
    second = AccountFactory(code="SECOND")
    known("friend@example.com", confirmed=False, source="lead")
    referral = known("friend@example.com", code="SECOND")
    assert referral.referrer == referrer
    assert balance(referrer) == 100
    assert balance(second) == 0


def test_attribution_window_expires(referrer, settings):
    settings.REFERRAL_ATTRIBUTION_DAYS = 30
    stale = (timezone.now() - timedelta(days=31)).isoformat()
    assert known("late@example.com", attribution={"ref_seen_at": stale}) is None
    fresh = (timezone.now() - timedelta(days=29)).isoformat()
    assert known("ontime@example.com", attribution={"ref_seen_at": fresh}) is not None


def test_garbage_email_is_ignored(referrer):
    assert known("not an email") is None
    assert known("") is None


class TestStaffReview:
    def test_approving_a_held_confirmed_referral_pays(self, referrer, admin_user):
        referral = known("ref+x@example.com")
        rules.referral_approve(referral_id=referral.pk, staff_user=admin_user)
        referral.refresh_from_db()
        assert referral.state == Referral.State.QUALIFIED
        assert referral.decided_by == admin_user
        assert balance(referrer) == 100

    def test_approving_an_unconfirmed_referral_pays_on_confirmation(self, referrer, admin_user):
        referral = known("ref+x@example.com", confirmed=False, source="lead")
        rules.referral_approve(referral_id=referral.pk, staff_user=admin_user)
        assert balance(referrer) == 0
        assert known("ref+x@example.com", code="").state == Referral.State.QUALIFIED
        assert balance(referrer) == 100

    def test_rejecting_a_paid_referral_reverses_the_award(self, referrer, admin_user):
        referral = known("friend@example.com")
        rules.referral_reject(referral_id=referral.pk, staff_user=admin_user, reason="Fake")
        referral.refresh_from_db()
        assert referral.state == Referral.State.REJECTED
        assert balance(referrer) == 0
        kinds = list(LedgerEntry.objects.order_by("pk").values_list("kind", "amount"))
        assert kinds == [("award", 100), ("reversal", -100)]
        with pytest.raises(errors.InvalidTransition):
            rules.referral_approve(referral_id=referral.pk, staff_user=admin_user)

    def test_rejecting_after_the_points_were_spent_is_refused(self, referrer, admin_user, reward):
        referral = known("friend@example.com")
        rewards.reward_redeem(account=referrer, reward_id=reward.pk, request_key="spent-it")
        with pytest.raises(errors.InsufficientPoints):
            rules.referral_reject(referral_id=referral.pk, staff_user=admin_user)
        referral.refresh_from_db()
        assert referral.state == Referral.State.QUALIFIED
        assert balance(referrer) == 0


def test_a_failing_referral_never_rolls_back_the_senders_work(referrer, monkeypatch, caplog):
    """Leads and newsletter send person_known inside their own transaction: a bug on our side
    must not lose their lead or subscription."""
    from django.db import transaction

    from referrals import receivers

    def broken(**kwargs):
        Referral.objects.create(referrer=referrer, email="half@example.com")
        raise RuntimeError("bug")

    monkeypatch.setattr(receivers, "referral_record", broken)
    with transaction.atomic():
        KnownEmail.objects.create(
            email="sender-row@example.com", first_source="lead", first_seen_at=timezone.now()
        )
        known("half@example.com")
    assert KnownEmail.objects.filter(email="sender-row@example.com").exists()
    assert not Referral.objects.exists()
    assert "Could not record a referral" in caplog.text
