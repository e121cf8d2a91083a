"""A visitor asks for a callback and a quote in Chromium; staff then work the lead in the admin."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from leads.demo import seed_catalogue
from leads.models import Lead

from .conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server, settings):
    settings.FORM_MIN_FILL_SECONDS = 0
    settings.LEADS_RATE_LIMIT = "100/m"
    seed_catalogue()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return live_server.url


def test_visitor_sends_both_forms_then_staff_work_the_lead(site, new_context):
    visitor = new_context().new_page()

    # "Let's get in touch", with one mistake first: the error shows and the input stays.
    visitor.goto(site + "/contact/?utm_source=newsletter&utm_campaign=autumn")
    form = visitor.locator('form[action="/contact/"]')
    form.get_by_label("Your name").fill("Ada Lovelace")
    form.get_by_label("Phone number").fill("12345")
    form.get_by_label("E-mail address").fill("ada@example.com")
    form.get_by_label("Course you're interested in").select_option(label="Cloud Foundations")
    form.get_by_label("Device platform").select_option(label="Chromebook")
    form.get_by_label("Best time to call").select_option("afternoon")
    form.get_by_label("Your time zone").select_option("Europe/Paris")
    form.get_by_label(re.compile("I agree that Skilldacity")).check()
    form.get_by_role("button", name="Request a callback").click()
    expect(visitor.get_by_text("Enter a valid phone number")).to_be_visible()
    expect(form.get_by_label("Your name")).to_have_value("Ada Lovelace")
    visitor.screenshot(path=str(ARTIFACTS / "leads-callback-error.png"), full_page=True)

    form.get_by_label("Phone number").fill("07911 123456")
    form.get_by_label(re.compile("I agree that Skilldacity")).check()
    form.get_by_role("button", name="Request a callback").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Thank you: we'll call you")
    expect(visitor.get_by_text("What happens next")).to_be_visible()

    # "Get a quote".
    visitor.goto(site + "/quote/")
    form = visitor.locator('form[action="/quote/"]')
    form.get_by_label("Your name").fill("Grace Hopper")
    form.get_by_label("Work e-mail address").fill("grace@navy.example")
    form.get_by_label("Organisation").fill("Navy Training Ltd")
    form.get_by_label("Number of learners").fill("40")
    form.get_by_label("DevOps in Practice").check()
    form.get_by_label("Cloud Foundations").check()
    form.get_by_label("Device platform").select_option(label="Windows")
    form.get_by_label("On site").check()
    form.get_by_label("When would you like to start?").select_option("asap")
    form.get_by_label(re.compile("I agree that Skilldacity")).check()
    visitor.screenshot(path=str(ARTIFACTS / "leads-quote-filled.png"), full_page=True)
    form.get_by_role("button", name="Get my quote").click()
    expect(visitor.get_by_role("heading", level=1)).to_contain_text("your quote is on its way")

    callback = Lead.objects.get(kind=Lead.Kind.CALLBACK)
    assert (callback.phone, callback.call_timezone) == ("+447911123456", "Europe/Paris")
    assert (callback.utm_source, callback.utm_campaign) == ("newsletter", "autumn")
    quote = Lead.objects.get(kind=Lead.Kind.QUOTE)
    assert quote.learners == 40 and quote.courses.count() == 2

    # Staff: assign to me from the list, then work the quote on its page.
    get_user_model().objects.create_superuser("sam", "sam@skilldacity.example", "pw-e2e-sam")
    staff = new_context().new_page()
    staff.goto(site + "/admin/leads/lead/")
    staff.get_by_label("Username").fill("sam")
    staff.get_by_label("Password").fill("pw-e2e-sam")
    staff.get_by_role("button", name="Log in").click()
    expect(staff.get_by_role("link", name=re.compile("Grace Hopper"))).to_be_visible()
    staff.screenshot(path=str(ARTIFACTS / "leads-admin-list.png"), full_page=True)

    staff.locator(f'input[name="_selected_action"][value="{quote.pk}"]').check()
    staff.locator('select[name="action"]').select_option("assign_to_me")
    staff.get_by_role("button", name="Go").click()
    expect(staff.get_by_text("1 lead(s) assigned to you")).to_be_visible()

    staff.get_by_role("link", name=re.compile("Grace Hopper")).click()
    staff.get_by_label("Change status to").select_option("contacted")
    staff.get_by_label("Add a note").fill("Called Grace: 40 learners, on site in Portsmouth.")
    staff.get_by_role("button", name="Save and continue editing").click()
    expect(staff.locator(".lead-timeline")).to_contain_text("Status New → Contacted")
    expect(staff.locator(".lead-timeline")).to_contain_text("on site in Portsmouth")
    expect(staff.locator(".lead-timeline")).to_contain_text("Assigned to sam")

    staff.get_by_label("Change status to").select_option("quoted")
    staff.get_by_role("button", name="Save and continue editing").click()
    expect(staff.locator(".lead-timeline")).to_contain_text("Follow-up to the visitor scheduled")
    staff.screenshot(path=str(ARTIFACTS / "leads-admin-change.png"), full_page=True)

    quote.refresh_from_db()
    assert quote.status == Lead.Status.QUOTED
    assert quote.assigned_to.username == "sam"
