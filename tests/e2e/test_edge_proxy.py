"""A reader whose article page came from the caching proxy (deploy/nginx/) in front of the site:
the campaign that brought them is kept, and the form on the cached page is sent exactly once."""

import re

import pytest
from playwright.sync_api import expect

from leads.demo import seed_catalogue
from leads.models import Lead
from tests.articles.factories import ArticleFactory
from tests.edge_proxy import edge_proxy  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_campaign_and_form_work_on_a_page_served_by_the_proxy(
    edge_proxy,  # noqa: F811
    settings,
    new_context,
):
    settings.FORM_MIN_FILL_SECONDS = 0
    settings.LEADS_RATE_LIMIT = "100/m"
    seed_catalogue()
    article = ArticleFactory(title="Which cloud course first?")
    url = article.get_absolute_url()
    assert edge_proxy.get(url).cache == "MISS"  # someone read it before: it is in the cache
    origin_before = len(edge_proxy.origin_requests.paths)

    visitor = new_context().new_page()
    landing = visitor.goto(f"{edge_proxy.url}{url}?utm_source=newsletter&utm_campaign=spring")
    assert landing.headers["x-cache-status"] == "HIT"
    form = visitor.locator('form[action="/contact/"]')
    form.get_by_label("Your name").fill("Ada Lovelace")
    form.get_by_label("Phone number").fill("07911 123456")
    form.get_by_label("E-mail address").fill("ada@example.com")
    form.get_by_label("Course you're interested in").select_option(label="Cloud Foundations")
    form.get_by_label("Device platform").select_option(label="Chromebook")
    form.get_by_label("Best time to call").select_option("afternoon")
    form.get_by_label(re.compile("I agree that Skilldacity")).check()
    form.get_by_role("button", name="Request a callback").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Thank you: we'll call you")

    # The page itself never reached Django: only the form's token and its post did.
    assert url not in edge_proxy.origin_requests.paths[origin_before:]
    lead = Lead.objects.get()
    assert (lead.utm_source, lead.utm_campaign) == ("newsletter", "spring")
    assert lead.article == article
