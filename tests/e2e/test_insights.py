import pytest
from playwright.sync_api import expect

from tests.insights.conftest import make_lead

from .conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_opens_the_dashboard_from_the_admin_and_reads_the_numbers(
    live_server, page, django_user_model
):
    from django.utils import timezone

    django_user_model.objects.create_user("boss", password="pw-12345-long", is_staff=True)
    now = timezone.now()
    for n in range(6):
        make_lead(
            kind="quote" if n % 2 else "callback",
            created_at=now,
            contact_due_at=now,
            contacted_at=now if n < 4 else None,
            quoted_at=now if n < 2 else None,
            status="won" if n == 0 else "new",
        )
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill("pw-12345-long")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Open the dashboard").click()
    expect(page.get_by_role("heading", name="Leads per week by kind")).to_be_visible()
    funnel = page.get_by_role("table", name="Funnel: conversion and median time in each stage")
    expect(funnel.get_by_role("row", name="Contacted")).to_contain_text("67%")
    expect(page.locator("svg[role=img]").first).to_be_visible()
    page.get_by_label("Kind", exact=True).select_option("quote")
    page.get_by_role("button", name="Apply").click()
    expect(funnel.get_by_role("row", name="New")).to_contain_text("3")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "insights-dashboard.png"), full_page=True)
