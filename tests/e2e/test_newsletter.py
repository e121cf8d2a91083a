import re

import pytest
from playwright.sync_api import expect

from newsletter.models import DiscountCode, Subscriber

from .conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)

CONFIRM_LINK = re.compile(r"https?://\S+/newsletter/confirm/[^\s/]+/")


@pytest.fixture
def site(live_server, smtp_server, settings):
    settings.SITE_URL = live_server.url
    # The browser fills the form faster than a person; the timing trap is tested elsewhere.
    settings.FORM_MIN_FILL_SECONDS = 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return live_server


def test_sign_up_in_the_footer_confirm_from_the_email_and_see_the_code(site, smtp_server, page):
    page.goto(site.url + "/")
    footer = page.locator("footer")
    footer.get_by_label("E-mail address").fill("ada.lovelace@example.com")
    footer.get_by_label("First name (optional)").fill("Ada")
    footer.get_by_label(re.compile("e-mail me Skilldacity updates")).check()
    footer.get_by_role("button", name="Sign up and get 20% off").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    page.screenshot(path=str(ARTIFACTS / "newsletter-check-inbox.png"), full_page=True)
    [message] = smtp_server.inbox.wait_for(1)
    assert message["To"] == "ada.lovelace@example.com"
    link = CONFIRM_LINK.search(message.get_body(("plain",)).get_content()).group(0)

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your subscription")
    page.screenshot(path=str(ARTIFACTS / "newsletter-confirm.png"), full_page=True)
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING
    page.get_by_role("button", name="Confirm my subscription").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("You're subscribed, Ada")
    code = DiscountCode.objects.get(subscriber__email="ada.lovelace@example.com").code
    expect(page.get_by_test_id("discount-code")).to_have_text(code)
    page.screenshot(path=str(ARTIFACTS / "newsletter-code.png"), full_page=True)
    welcome = smtp_server.inbox.wait_for(2)[1]
    assert code in welcome.get_body(("plain",)).get_content()


def test_a_mistake_in_the_footer_form_is_shown_on_the_full_page_with_the_input_kept(site, page):
    page.goto(site.url + "/")
    footer = page.locator("footer")
    footer.get_by_label("E-mail address").fill("ada@mailinator.com")
    footer.get_by_label("First name (optional)").fill("Ada")
    footer.get_by_role("button", name="Sign up and get 20% off").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up for updates")
    expect(page.get_by_text("That looks like a temporary mailbox")).to_be_visible()
    expect(page.get_by_text("Please tick the box so we may e-mail you.")).to_be_visible()
    expect(page.get_by_label("E-mail address")).to_have_value("ada@mailinator.com")
    expect(page.get_by_label("First name (optional)")).to_have_value("Ada")
    page.screenshot(path=str(ARTIFACTS / "newsletter-errors.png"), full_page=True)
    assert not Subscriber.objects.exists()
