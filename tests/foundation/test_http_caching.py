"""HTTP caching headers: what a shared cache in front may keep, for how long, under which keys,
and what it must never keep (skilldacity/httpcache.py)."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client
from django.utils import timezone

from tests.articles.factories import ArticleFactory, CategoryFactory, StaffFactory, TagFactory

pytestmark = pytest.mark.django_db

PUBLIC = re.compile(
    r"^public, max-age=0, s-maxage=600, stale-while-revalidate=30, stale-if-error=86400$"
)


@pytest.fixture
def article():
    return ArticleFactory(category=CategoryFactory(), tags=[TagFactory(), TagFactory()])


def keys(response):
    return set(response["Surrogate-Key"].split())


def assert_public(response):
    assert response.status_code == 200
    assert PUBLIC.match(response["Cache-Control"]), response["Cache-Control"]
    assert response["ETag"]
    assert "cookie" not in response.get("Vary", "").lower()
    assert not response.cookies, "a page that sets a cookie must not be shared"


def assert_private(response):
    assert response["Cache-Control"] in {
        "private, no-store",
        "max-age=0, no-cache, no-store, must-revalidate, private",  # never_cache
    }, response["Cache-Control"]
    assert "Surrogate-Key" not in response


def test_public_pages_are_shareable_with_their_surrogate_keys(client, article):
    category, tag = article.category, article.tags.first()
    expected = {
        "/": {"site", "list"},
        "/news/": {"site", "list"},
        "/news/?page=2": {"site", "list"},
        category.get_absolute_url(): {"site", "list", f"category-{category.pk}"},
        f"/news/tag/{tag.slug}/": {"site", "list", f"tag-{tag.pk}"},
        article.get_absolute_url(): {
            "site",
            f"article-{article.pk}",
            f"category-{category.pk}",
            *(f"tag-{t.pk}" for t in article.tags.all()),
        },
        "/news/feed/rss/": {"site", "feed"},
        "/news/feed/atom/": {"site", "feed"},
        f"/news/category/{category.slug}/feed/rss/": {"site", "feed", f"category-{category.pk}"},
        "/sitemap.xml": {"site", "sitemap"},
        "/sitemap-articles.xml": {"site", "sitemap"},
        "/contact/": {"site"},
        "/quote/": {"site"},
        "/newsletter/": {"site"},
    }
    for url, wanted in expected.items():
        response = client.get(url)
        assert_public(response)
        assert keys(response) == wanted, url


def test_an_article_page_keeps_its_keys_when_built_from_cached_fragments(client, article):
    first = client.get(article.get_absolute_url())
    again = Client().get(article.get_absolute_url())
    assert keys(again) == keys(first) and f"article-{article.pk}" in keys(again)


def test_the_lifetimes_come_from_settings(client, settings, article):
    settings.PAGE_CACHE_SECONDS = 120
    settings.PAGE_BROWSER_CACHE_SECONDS = 15
    settings.PAGE_STALE_WHILE_REVALIDATE_SECONDS = 5
    settings.PAGE_STALE_IF_ERROR_SECONDS = 3600
    cache_control = client.get(article.get_absolute_url())["Cache-Control"]
    assert cache_control == (
        "public, max-age=15, s-maxage=120, stale-while-revalidate=5, stale-if-error=3600"
    )


def test_no_page_is_public_when_the_cache_time_is_zero(client, settings, article):
    settings.PAGE_CACHE_SECONDS = 0
    assert_private(client.get(article.get_absolute_url()))


def test_a_shared_copy_never_outlives_the_next_scheduled_publication(client, article):
    ArticleFactory(published_at=timezone.now() + timedelta(seconds=90))
    cache_control = client.get("/news/")["Cache-Control"]
    seconds = int(re.search(r"s-maxage=(\d+)", cache_control).group(1))
    assert 0 < seconds <= 90
    assert re.search(r"max-age=0,", cache_control)


def test_conditional_gets_answer_304_until_the_page_changes(
    client, article, django_capture_on_commit_callbacks
):
    url = article.get_absolute_url()
    first = client.get(url)
    etag = first["ETag"]
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag and again["Cache-Control"] == first["Cache-Control"]
    with django_capture_on_commit_callbacks(execute=True):
        article.title = "A sharper title"
        article.save()
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and "A sharper title" in changed.content.decode()
    assert changed["ETag"] != etag


def test_sitemaps_also_answer_if_modified_since(client, article):
    response = client.get("/sitemap-articles.xml")
    assert response["Last-Modified"]
    again = client.get("/sitemap-articles.xml", HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert again.status_code == 304


def test_signed_in_readers_and_staff_get_private_pages(article):
    reader = Client()
    reader.force_login(StaffFactory(is_staff=False, is_superuser=False))
    staff = Client()
    staff.force_login(StaffFactory())
    for who in (reader, staff):
        for url in ("/", "/news/", article.get_absolute_url(), "/contact/", "/news/feed/rss/"):
            assert_private(who.get(url))
    assert "Sign out" in staff.get("/news/").content.decode()


def test_previews_of_drafts_are_private(article):
    draft = ArticleFactory(status="draft")
    staff = Client()
    staff.force_login(StaffFactory())
    response = staff.get(f"/news/preview/{draft.pk}/")
    assert response.status_code == 200
    assert_private(response)


def test_a_page_showing_a_message_is_private(client, rf):
    storage = CookieStorage(rf.get("/"))
    storage.add(constants.SUCCESS, "Thanks, you are subscribed.")
    carrier = client.get("/healthz")
    storage.update(carrier)
    client.cookies.update(carrier.cookies)
    page = client.get("/news/")
    assert "Thanks, you are subscribed." in page.content.decode()
    assert_private(page)
    assert_public(client.get("/news/"))


def test_a_form_error_is_private(client, catalogue):
    response = client.post("/contact/", {"callback-name": "Ada"})
    assert response.status_code == 200 and "is-invalid" in response.content.decode()
    assert_private(response)


def test_a_response_that_sets_a_cookie_is_never_public(client, article):
    """A campaign landing the application sees starts a session for its attribution."""
    response = client.get(article.get_absolute_url() + "?utm_source=linkedin")
    assert response.cookies
    assert_private(response)


def test_pages_nobody_marked_public_are_private(client):
    for url in ("/accounts/login/", "/skillpoints/", "/newsletter/check-your-inbox/"):
        assert_private(client.get(url))
    # Those that chose their own caching keep it (robots.txt is the same for everyone).
    assert client.get("/robots.txt")["Cache-Control"] == "max-age=86400, public"


# --- Cache poisoning --------------------------------------------------------------------------


def test_unknown_and_tracking_parameters_do_not_change_the_page(client, article):
    """A cache that keys on the full address stores these separately, but none of them can put
    anything of the visitor's into a page others get."""
    url = article.get_absolute_url()
    plain = client.get(url)
    for query in ('?x="><script>alert(1)</script>', "?page=2", "?fbclid=abc&gclid=x", "?q=x"):
        response = Client().get(url + query)
        assert_public(response)
        assert response.content == plain.content, query
    tracked = Client().get(url + "?utm_source=evil&ref=EVIL")
    assert tracked.content == plain.content and b"evil" not in tracked.content.lower()


def test_a_forwarded_host_does_not_change_the_page(client, article):
    url = article.get_absolute_url()
    plain = client.get(url)
    forwarded = Client().get(url, HTTP_X_FORWARDED_HOST="evil.example")
    assert forwarded.content == plain.content
    assert b"evil.example" not in forwarded.content


def test_a_garbage_host_gets_a_400_no_cache_may_keep(client, article):
    for host in ("evil.example", "127.0.0.1:8000@evil", "x" * 300):
        response = client.get(article.get_absolute_url(), HTTP_HOST=host)
        assert response.status_code == 400
        assert_private(response)


def test_a_session_cookie_never_puts_someones_data_in_a_public_page(article):
    """An anonymous visitor with a session (their attribution) gets the page everyone gets; a
    signed-in one gets a private page."""
    url = article.get_absolute_url()
    plain = Client().get(url)
    campaign = Client()
    campaign.get("/contact/?utm_source=newsletter&ref=FRIEND1")
    assert campaign.cookies.get("sessionid")
    with_session = campaign.get(url)
    assert_public(with_session)
    assert with_session.content == plain.content
    signed_in = Client()
    signed_in.force_login(StaffFactory(is_staff=False, is_superuser=False, username="ada-x"))
    page = signed_in.get(url)
    assert_private(page)
    assert "Sign out" in page.content.decode()


@pytest.fixture
def catalogue(db):
    from leads.demo import seed_catalogue

    seed_catalogue()


def test_a_view_that_chose_public_caching_loses_it_when_it_sets_a_cookie(rf):
    from django.http import HttpResponse
    from django.views.decorators.cache import cache_control

    from skilldacity.httpcache import CacheHeadersMiddleware

    @cache_control(public=True, max_age=600)
    def careless(request):
        response = HttpResponse("hello")
        response.set_cookie("visitor", "42")
        return response

    response = CacheHeadersMiddleware(careless)(rf.get("/"))
    assert response["Cache-Control"] == "private, no-store"
