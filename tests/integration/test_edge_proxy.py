"""Readers served by the reference nginx (deploy/nginx/) in front of the site: hits never reach
Django, staff's changes are purged, and nothing a visitor sends can poison what others get."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from articles.models import Article
from skilldacity.edgecache.models import Purge
from tests.articles.factories import ArticleFactory, StaffFactory
from tests.edge_proxy import edge_proxy, varnish_proxy  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_anonymous_reader_is_served_by_the_proxy(edge_proxy):  # noqa: F811
    article = ArticleFactory(title="Cached insight")
    url = article.get_absolute_url()
    for path in (url, "/news/", "/news/feed/rss/"):
        first = edge_proxy.get(path)
        assert first.status == 200 and first.cache == "MISS"
        for _ in range(3):
            again = edge_proxy.get(path)
            assert again.cache == "HIT" and again.text == first.text
        assert edge_proxy.origin_requests.count(path) == 1
    assert "Cached insight" in edge_proxy.get(url).text


def test_publish_purges_and_the_next_reader_sees_the_article(edge_proxy):  # noqa: F811
    ArticleFactory(title="Old news")
    draft = ArticleFactory(title="Breaking news", status=Article.Status.DRAFT, published_at=None)
    assert edge_proxy.get("/news/").cache == "MISS"
    assert edge_proxy.get("/news/").cache == "HIT"
    staff = Client()
    staff.force_login(StaffFactory())
    response = staff.post(
        reverse("admin:articles_article_changelist"),
        {"action": "publish_selected", "_selected_action": [draft.pk]},
    )
    assert response.status_code == 302
    assert not Purge.objects.exclude(status=Purge.Status.DONE).exists()
    page = edge_proxy.get("/news/")
    assert page.cache == "MISS" and "Breaking news" in page.text
    assert "Breaking news" in edge_proxy.get(draft.get_absolute_url()).text


def test_a_proxy_that_is_down_fails_no_save_and_the_purge_waits(edge_proxy):  # noqa: F811
    article = ArticleFactory(title="Before")
    edge_proxy.stop()
    article.title = "After"
    article.save()
    purge = Purge.objects.latest("created_at")
    assert purge.status == Purge.Status.PENDING and "nginx" in purge.last_error
    edge_proxy.start()
    from skilldacity.edgecache.services import purge_retry

    assert purge_retry(ids=[purge.pk]) == 1
    purge.refresh_from_db()
    assert purge.status == Purge.Status.DONE


def test_a_signed_in_reader_is_never_cached_nor_served_from_cache(edge_proxy):  # noqa: F811
    article = ArticleFactory()
    url = article.get_absolute_url()
    assert edge_proxy.get(url).cache == "MISS"
    reader = Client()
    reader.force_login(StaffFactory())
    cookie = f"sessionid={reader.cookies['sessionid'].value}"
    for _ in range(2):
        page = edge_proxy.get(url, {"Cookie": cookie})
        assert page.cache == "BYPASS" and "Sign out" in page.text
        assert "private" in page.headers["Cache-Control"]
    anonymous = edge_proxy.get(url)
    assert anonymous.cache == "HIT" and "Sign out" not in anonymous.text


def test_nothing_a_visitor_sends_poisons_the_cache(edge_proxy):  # noqa: F811
    article = ArticleFactory(title="Shared page")
    url = article.get_absolute_url()
    campaign = edge_proxy.get(url + "?utm_source=x&utm_campaign=<script>&fbclid=1")
    assert campaign.status == 200 and campaign.cache == "MISS"
    assert "utm_source" not in campaign.text and "&lt;script&gt;" not in campaign.text
    plain = edge_proxy.get(url)
    assert plain.cache == "HIT" and plain.text == campaign.text
    garbage_host = edge_proxy.get(url, {"Host": "evil.example"})
    assert garbage_host.status == 200 and "evil.example" not in garbage_host.text
    session = Client()
    session.get("/")  # an anonymous visitor with a session, e.g. after a form
    signed_in = Client()
    signed_in.force_login(StaffFactory())
    edge_proxy.get(url + "?page=9", {"Cookie": f"sessionid={signed_in.cookies['sessionid'].value}"})
    after = edge_proxy.get(url + "?page=9")
    assert after.cache == "MISS"
    # No per-visitor token in any page another visitor can be given.
    for page in (campaign, plain, garbage_host, after):
        assert not re.search(r'name="csrfmiddlewaretoken" value="[^"]+"', page.text)


def test_varnish_purges_only_the_pages_that_carry_the_changed_keys(varnish_proxy):  # noqa: F811
    edited, other = ArticleFactory(body="First version."), ArticleFactory()
    for article in (edited, other):
        varnish_proxy.get(article.get_absolute_url())
        assert varnish_proxy.get(article.get_absolute_url()).cache == "HIT"
    edited.body = "Second version."  # the body only: its page, the feeds and sitemaps
    edited.save()
    page = varnish_proxy.get(edited.get_absolute_url())
    assert page.cache == "MISS" and "Second version." in page.text
    assert varnish_proxy.get(other.get_absolute_url()).cache == "HIT"
    edited.title = "A new title"  # on other pages too (Recent Articles): everything
    edited.save()
    assert varnish_proxy.get(other.get_absolute_url()).cache == "MISS"
