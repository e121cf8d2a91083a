"""The referral journey's e-mails go Redis -> a real Celery worker -> a real SMTP server, once."""

import re
import time

from django.conf import settings
from django.test import Client
from django.urls import reverse

from referrals.models import LedgerEntry, ReferrerAccount
from referrals.services import ledger
from skilldacity.spam import form_started_token
from tests.referrals.factories import AccountFactory, RewardFactory

PASSWORD = "a-long-unusual-passphrase"


def link_in(message, pattern):
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(pattern, body).group(1)


def test_friend_signs_up_verifies_and_referrer_is_told_once(
    celery_worker, live_broker, smtp_server
):
    referrer = AccountFactory(code="MAILTEST", user__email="ref@example.com")
    friend = Client()
    friend.get(reverse("referrals:short_link", args=["MAILTEST"]))
    friend.post(
        reverse("referrals:signup"),
        {
            "email": "friend@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "form_started": form_started_token(now=time.time() - 10),
        },
    )
    received = smtp_server.inbox.wait_for(1, timeout=30)
    assert len(received) == 1, celery_worker.log()
    assert received[0]["To"] == "friend@example.com"
    verify_path = link_in(received[0], r"https?://[^/\s]+(/accounts/verify/\S+/)")

    # A mail scanner following the link does nothing; the person pressing the button verifies.
    assert Client().get(verify_path).status_code == 200
    assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 0
    Client().post(verify_path)
    Client().post(verify_path)

    told = smtp_server.inbox.wait_for(
        1, timeout=30, predicate=lambda m: "ref@example.com" in m["To"]
    )
    assert len(told) == 1, celery_worker.log()
    assert "You earned 100 SkillPoints" in told[0]["Subject"]
    assert "f***@example.com" in told[0].get_body(preferencelist=("plain",)).get_content()
    smtp_server.inbox.wait_for(3, timeout=2)
    assert len(smtp_server.inbox.messages) == 2
    assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 100


def test_a_redemption_from_the_dashboard_tells_the_referrer_and_staff_once(
    celery_worker, live_broker, smtp_server
):
    """The debit commits in the same statement as the UPDATE; the e-mails still go, once."""
    account = AccountFactory(user__email="redeemer@example.com")
    ledger.ledger_post(
        account_id=account.pk, amount=150, kind=LedgerEntry.Kind.ADJUSTMENT, key="mail-fund"
    )
    reward = RewardFactory(name="Course voucher", points_cost=100)
    referrer = Client()
    referrer.force_login(account.user)
    answer = referrer.post(
        reverse("referrals:redeem"),
        {"reward": reward.pk, "request_key": "dashboard-click-1"},
        follow=True,
    )
    assert "Redeemed Course voucher for 100 points" in answer.content.decode()

    received = smtp_server.inbox.wait_for(2, timeout=30)
    assert sorted(message["To"] for message in received) == sorted(
        ["redeemer@example.com", settings.STAFF_NOTIFICATION_EMAIL]
    ), celery_worker.log()
    smtp_server.inbox.wait_for(3, timeout=2)
    assert len(smtp_server.inbox.messages) == 2
    assert ReferrerAccount.objects.get(pk=account.pk).balance == 50
