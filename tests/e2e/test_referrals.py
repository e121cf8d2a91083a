"""The SkillPoints promise, clicked through in Chromium: refer a friend, earn 100, redeem."""

import re

import pytest
from playwright.sync_api import expect

from skilldacity.outbox.models import Email
from tests.referrals.factories import RewardFactory

from .conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-unusual-passphrase"


def sign_up_and_verify(page, base_url, email):
    page.goto(base_url + "/accounts/signup/")
    form = page.locator("main form")
    form.get_by_label("E-mail address").fill(email)
    form.get_by_label(re.compile(r"^\s*Password\W*$")).fill(PASSWORD)
    form.get_by_label("Password again").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    verify_path = Email.objects.get(to=email, template="account_verify").context["verify_path"]
    page.goto(base_url + verify_path)
    page.get_by_role("button", name="Verify my address").click()
    expect(page.get_by_role("heading", name="Your SkillPoints")).to_be_visible()


def test_referrer_earns_100_points_from_a_friend_and_redeems_a_reward(
    live_server, new_context, settings
):
    settings.FORM_MIN_FILL_SECONDS = 0
    RewardFactory(name="USB-C charging cable", points_cost=100, stock=10)
    RewardFactory(name="Chromebook for learning", points_cost=3000, stock=5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    referrer = new_context().new_page()
    sign_up_and_verify(referrer, live_server.url, "referrer@example.com")
    expect(referrer.get_by_test_id("balance")).to_have_text("0")
    code = referrer.get_by_label("Your referral code").input_value()
    assert re.fullmatch(r"[A-Z2-9]{8}", code)
    link = referrer.get_by_role("textbox", name="Your referral link").input_value()
    assert link.endswith(f"/r/{code}/")

    friend = new_context().new_page()
    friend.goto(f"{live_server.url}/r/{code}/")
    expect(friend).to_have_url(live_server.url + "/")
    sign_up_and_verify(friend, live_server.url, "friend@example.com")

    referrer.reload()
    expect(referrer.get_by_test_id("balance")).to_have_text("100")
    referrals = referrer.get_by_role("region", name="Your referrals")
    expect(
        referrals.get_by_role("row", name=re.compile(r"f\*\*\*@example\.com .* Qualified"))
    ).to_be_visible()
    expect(referrer.get_by_text("friend@example.com")).to_have_count(0)
    expect(referrer.get_by_role("button", name="Redeem for 100 points")).to_be_visible()
    expect(referrer.get_by_role("button", name="Redeem for 3,000 points")).to_have_count(0)
    referrer.screenshot(path=str(ARTIFACTS / "referrals-dashboard.png"), full_page=True)

    referrer.get_by_role("button", name="Redeem for 100 points").click()
    expect(referrer.get_by_text("Redeemed USB-C charging cable for 100 points")).to_be_visible()
    expect(referrer.get_by_test_id("balance")).to_have_text("0")
    redemptions = referrer.get_by_role("region", name="Your redemptions")
    expect(
        redemptions.get_by_role("row", name=re.compile("USB-C charging cable 100 Requested"))
    ).to_be_visible()
    referrer.screenshot(path=str(ARTIFACTS / "referrals-dashboard-redeemed.png"), full_page=True)
    assert Email.objects.filter(template="referral_redemption_staff").count() == 1


def test_copy_button_copies_the_link(live_server, new_context, settings):
    settings.FORM_MIN_FILL_SECONDS = 0
    context = new_context()
    page = context.new_page()
    sign_up_and_verify(page, live_server.url, "copier@example.com")
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
