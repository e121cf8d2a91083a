"""A lead form on an article page that a shared cache served: in Chromium, with JavaScript (the
token comes from /forms/token/) and without (one more click), the lead lands exactly once."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from leads.demo import seed_catalogue
from leads.models import Lead
from tests.articles.factories import ArticleFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cached_article(live_server, settings):
    """An article page as the cache in front holds it: fetched once by another reader."""
    settings.FORM_MIN_FILL_SECONDS = 0
    settings.LEADS_RATE_LIMIT = "100/m"
    seed_catalogue()
    article = ArticleFactory(title="Cloud careers in 2027")
    stored = Client().get(article.get_absolute_url())
    assert stored["Cache-Control"].startswith("public,")
    return article, stored, live_server.url


def serve_from_cache(page, site, article, stored):
    """Answer the article's address (whatever its query string) from the stored copy, as a
    proxy does on a hit: the application never sees the landing request."""
    headers = {
        name: value
        for name, value in stored.items()
        if name.lower() in {"content-type", "cache-control", "etag", "content-security-policy"}
    }
    pattern = re.compile(re.escape(site + article.get_absolute_url()) + r"(\?.*)?$")
    page.route(
        pattern, lambda route: route.fulfill(status=200, headers=headers, body=stored.content)
    )


def fill_callback(form):
    form.get_by_label("Your name").fill("Ada Lovelace")
    form.get_by_label("Phone number").fill("07911 123456")
    form.get_by_label("E-mail address").fill("ada@example.com")
    form.get_by_label("Course you're interested in").select_option(label="Cloud Foundations")
    form.get_by_label("Device platform").select_option(label="Chromebook")
    form.get_by_label("Best time to call").select_option("afternoon")
    form.get_by_label(re.compile("I agree that Skilldacity")).check()


def test_a_lead_form_on_a_cached_article_page_lands_once_with_its_campaign(
    cached_article, new_context
):
    article, stored, site = cached_article
    page = new_context().new_page()
    serve_from_cache(page, site, article, stored)
    token_requests = []
    page.on("request", lambda r: token_requests.append(r.url) if "/forms/token/" in r.url else 0)

    page.goto(f"{site}{article.get_absolute_url()}?utm_source=linkedin&utm_campaign=spring")
    form = page.locator('form[action="/contact/"]')
    expect(form.locator('input[name="csrfmiddlewaretoken"]')).to_have_value("")
    fill_callback(form)
    expect(form.locator('input[name="csrfmiddlewaretoken"]')).not_to_have_value("")
    form.get_by_role("button", name="Request a callback").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: we'll call you")

    assert len(token_requests) == 1
    lead = Lead.objects.get()
    assert lead.article == article and lead.email == "ada@example.com"
    assert (lead.utm_source, lead.utm_campaign) == ("linkedin", "spring")


def test_without_javascript_the_form_comes_back_filled_in_and_sends_on_the_second_click(
    cached_article, new_context
):
    article, stored, site = cached_article
    page = new_context(java_script_enabled=False).new_page()
    serve_from_cache(page, site, article, stored)
    page.goto(site + article.get_absolute_url())
    fill_callback(page.locator('form[action="/contact/"]'))
    page.locator('form[action="/contact/"]').get_by_role(
        "button", name="Request a callback"
    ).click()

    expect(page.get_by_text("please check your details and send the form again")).to_be_visible()
    form = page.locator('form[action="/contact/"]')
    expect(form.get_by_label("Your name")).to_have_value("Ada Lovelace")
    expect(form.get_by_label("Phone number")).to_have_value("07911 123456")
    assert Lead.objects.count() == 0
    form.get_by_role("button", name="Request a callback").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you: we'll call you")
    assert Lead.objects.get().article == article
