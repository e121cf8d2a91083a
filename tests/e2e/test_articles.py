"""A reader in Chromium: browses pages of articles, reads one, shares it."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from articles.demo import seed_articles
from articles.models import Article
from tests.articles.factories import ArticleFactory

from .conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def many_articles():
    seed_articles()
    category = Article.objects.first().category
    for number in range(1, 16):
        ArticleFactory(
            title=f"Weekly insight {number}",
            category=category,
            published_at=timezone.now() - timedelta(days=30 + number),
        )


def test_reader_pages_through_reads_an_article_and_shares_it(live_server, page, many_articles):
    page.goto(live_server.url + "/news/")
    page.screenshot(path=str(ARTIFACTS / "articles-list.png"), full_page=True)
    pagination = page.get_by_role("navigation", name="Article pages")
    pagination.get_by_role("link", name="2", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    expect(pagination.locator(".active")).to_have_text("2")
    expect(page.get_by_role("link", name="Weekly insight 6", exact=True)).to_be_visible()
    pagination.get_by_role("link", name="Newer").click()
    expect(page).to_have_url(re.compile(r"\?page=1$"))

    page.get_by_role("link", name=re.compile("^Machine Learning Engineer")).click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile("Machine Learning Engineer"))
    expect(page.get_by_role("navigation", name="In this article")).to_be_visible()
    page.get_by_role("navigation", name="In this article").get_by_role(
        "link", name="Salary"
    ).click()
    expect(page).to_have_url(re.compile("#salary$"))
    page.screenshot(path=str(ARTIFACTS / "article-desktop.png"), full_page=True)

    canonical = settings.SITE_URL + urlsplit(page.url).path
    linkedin = page.get_by_role("link", name=re.compile("^LinkedIn"))
    href = linkedin.get_attribute("href")
    assert href.startswith("https://www.linkedin.com/sharing/share-offsite/?")
    assert parse_qs(urlsplit(href).query)["url"] == [canonical]
    assert linkedin.get_attribute("target") == "_blank"
    x_href = page.get_by_role("link", name=re.compile(r"^X \(Twitter\)")).get_attribute("href")
    assert parse_qs(urlsplit(x_href).query)["url"] == [canonical]

    page.get_by_role("button", name="Copy link").click()
    expect(page.locator(".copy-status")).to_have_text(
        re.compile(f"^(Link copied|Copy this link: {re.escape(canonical)})$")
    )


def test_article_at_phone_width_has_no_sideways_scroll(live_server, new_context):
    seed_articles()
    article = Article.objects.first()
    page = new_context(viewport={"width": 375, "height": 740}).new_page()
    page.goto(live_server.url + article.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "article-phone.png"), full_page=True)
    page.goto(live_server.url + "/news/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "articles-list-phone.png"), full_page=True)


def test_no_console_errors_or_csp_violations_on_article_pages(live_server, page):
    seed_articles()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(live_server.url + Article.objects.first().get_absolute_url())
    page.get_by_role("button", name="Copy link").click()
    page.goto(live_server.url + "/news/?q=python")
    assert errors == []


def test_staff_write_with_a_live_preview_and_see_states_in_the_list(live_server, page):
    from django.contrib.auth import get_user_model

    seed_articles()
    ArticleFactory(title="Coming next week", published_at=timezone.now() + timedelta(days=7))
    get_user_model().objects.create_superuser("editor", "editor@example.com", "pw-1234567890")
    page.goto(live_server.url + "/admin/login/?next=/admin/articles/article/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("pw-1234567890")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#result_list")).to_contain_text("Scheduled")
    page.screenshot(path=str(ARTIFACTS / "admin-articles.png"), full_page=True)

    page.goto(live_server.url + "/admin/articles/article/add/")
    page.get_by_label("Title:").press_sequentially("Ten questions to ask before a bootcamp")
    expect(page.get_by_label("Slug:")).to_have_value("ten-questions-to-ask-before-a-bootcamp")
    page.get_by_label("Body:").fill(
        "## Cost\n\nWhat is **included**?\n\n<img src=x onerror=alert(1)>"
    )
    preview = page.locator(".article-body-preview")
    expect(preview.locator("h2#cost")).to_have_text("Cost")
    expect(preview.locator("strong")).to_have_text("included")
    assert preview.locator("[onerror]").count() == 0
    page.screenshot(path=str(ARTIFACTS / "admin-article-add.png"), full_page=True)
