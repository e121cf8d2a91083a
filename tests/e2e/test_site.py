import re

import pytest
from playwright.sync_api import expect

from articles.demo import seed_articles

from .conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)


def test_home_page_navigation_reaches_every_section(live_server, page):
    seed_articles()
    page.goto(live_server.url + "/")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
    expect(page).to_have_title(re.compile("Skilldacity"))
    nav = page.get_by_role("navigation", name="Main navigation")
    for link_text, path in [
        ("News & Insights", "/news/"),
        ("Get a quote", "/quote/"),
        ("Contact", "/contact/"),
        ("SkillPoints", "/skillpoints/"),
        ("Sign in", "/accounts/login/"),
    ]:
        nav.get_by_role("link", name=link_text).click()
        expect(page).to_have_url(re.compile(re.escape(path)))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.go_back()


def test_phone_width_menu_collapses_and_opens(live_server, new_context):
    page = new_context(viewport={"width": 375, "height": 740}).new_page()
    page.goto(live_server.url + "/")
    menu = page.locator("#main-nav")
    expect(menu).to_be_hidden()
    page.get_by_role("button", name="Toggle navigation").click()
    expect(menu.get_by_role("link", name="News & Insights")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "home-phone.png"), full_page=True)
