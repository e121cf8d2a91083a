"""Feeds and sitemaps parse as XML and list the right entries, with dates."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from articles.models import Article
from articles.sitemaps import ArticleSitemap, CategorySitemap

from .factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITE = "http://127.0.0.1:8000"  # settings.SITE_URL in tests
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def parse_xml(data):
    """Parse what the site itself produced (strict: a malformed document raises)."""
    return ET.fromstring(data)  # noqa: S314 - our own output, not untrusted input


@pytest.fixture
def content():
    careers = CategoryFactory(name="Careers", slug="careers", description="Roles and pay.")
    return {
        "career": ArticleFactory(title="Career piece", category=careers),
        "other": ArticleFactory(title="Other piece", published_at=timezone.now() - timedelta(1)),
        "draft": ArticleFactory(title="Draft piece", status=Article.Status.DRAFT),
        "scheduled": ArticleFactory(
            title="Scheduled piece", published_at=timezone.now() + timedelta(days=1)
        ),
    }


def test_rss_feed_lists_live_articles_with_absolute_links(client, content):
    response = client.get("/news/feed/rss/")
    assert response["Content-Type"].startswith("application/rss+xml")
    channel = parse_xml(response.content).find("channel")
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == ["Career piece", "Other piece"]
    assert items[0].findtext("link") == SITE + content["career"].get_absolute_url()
    assert channel.findtext("link") == SITE + "/news/"
    assert items[0].findtext("pubDate") and items[0].findtext("description")
    assert "Careers" in [category.text for category in items[0].findall("category")]


def test_atom_feed_parses_and_has_updated_dates(client, content):
    root = parse_xml(client.get("/news/feed/atom/").content)
    entries = root.findall(f"{ATOM}entry")
    assert [entry.findtext(f"{ATOM}title") for entry in entries] == ["Career piece", "Other piece"]
    assert all(entry.findtext(f"{ATOM}updated") for entry in entries)
    assert entries[0].find(f"{ATOM}author").findtext(f"{ATOM}name") == content["career"].author.name


def test_category_feeds_only_hold_that_category(client, content):
    rss = parse_xml(client.get("/news/category/careers/feed/rss/").content)
    assert [item.findtext("title") for item in rss.iter("item")] == ["Career piece"]
    assert rss.find("channel").findtext("description") == "Roles and pay."
    atom = parse_xml(client.get("/news/category/careers/feed/atom/").content)
    assert [e.findtext(f"{ATOM}title") for e in atom.findall(f"{ATOM}entry")] == ["Career piece"]
    assert client.get("/news/category/missing/feed/rss/").status_code == 404


def test_sitemap_classes_list_live_articles_and_categories_with_lastmod(content):
    urls = ArticleSitemap().get_urls()
    assert [url["location"] for url in urls] == [
        SITE + content["career"].get_absolute_url(),
        SITE + content["other"].get_absolute_url(),
    ]
    assert all(url["lastmod"] for url in urls)
    categories = {url["item"].slug: url["lastmod"] for url in CategorySitemap().get_urls()}
    assert categories["careers"] == content["career"].updated_at


def test_sitemap_index_and_sections_parse_and_list_every_page(client, content):
    index = parse_xml(client.get("/sitemap.xml").content)
    sections = [loc.text for loc in index.iter(f"{SITEMAP}loc")]
    assert {s.rsplit("/", 1)[1] for s in sections} == {
        "sitemap-static.xml",
        "sitemap-articles.xml",
        "sitemap-categories.xml",
    }
    articles = parse_xml(client.get("/sitemap-articles.xml").content)
    locations = [loc.text for loc in articles.iter(f"{SITEMAP}loc")]
    assert locations == [SITE + content[name].get_absolute_url() for name in ("career", "other")]
    assert len(list(articles.iter(f"{SITEMAP}lastmod"))) == 2
    static = parse_xml(client.get("/sitemap-static.xml").content)
    assert any(loc.text.endswith("/news/") for loc in static.iter(f"{SITEMAP}loc"))


def test_robots_txt_points_at_the_sitemap(client):
    assert "Sitemap: http://testserver/sitemap.xml" in client.get("/robots.txt").content.decode()


def test_feed_links_in_page_head(client, content):
    html = client.get("/news/").content.decode()
    assert 'type="application/rss+xml"' in html and 'href="/news/feed/rss/"' in html
    assert 'type="application/atom+xml"' in html and 'href="/news/feed/atom/"' in html
