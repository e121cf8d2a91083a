"""The public page cache: fast for anonymous readers, never stale, never wrong for anyone."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import constants, get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles.models import Article
from articles.services import article_publish, article_unpublish
from skilldacity import pagecache

from .factories import ArticleFactory, CategoryFactory, StaffFactory, TagFactory

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def fetch(client, url="/news/"):
    response = client.get(url)
    assert response.status_code == 200
    return response


def test_second_anonymous_request_is_served_from_cache_without_queries(
    client, django_assert_num_queries
):
    article = ArticleFactory()
    assert fetch(client, article.get_absolute_url())["X-Page-Cache"] == "miss"
    with django_assert_num_queries(0):
        response = fetch(Client(), article.get_absolute_url())
    assert response["X-Page-Cache"] == "hit"
    assert article.title in response.content.decode()


def test_each_visitor_gets_their_own_valid_csrf_token_and_cookie(client):
    article = ArticleFactory()
    first = fetch(client, article.get_absolute_url())
    visitor = Client(enforce_csrf_checks=True)
    cached = fetch(visitor, article.get_absolute_url())
    assert cached["X-Page-Cache"] == "hit"
    html = cached.content.decode()
    assert pagecache.CSRF_PLACEHOLDER not in html
    tokens = set(TOKEN.findall(html))
    assert tokens and tokens.isdisjoint(TOKEN.findall(first.content.decode()))
    secret = cached.cookies["csrftoken"].value
    assert all(_unmask_cipher_token(token) == secret for token in tokens)
    # The served token passes Django's CSRF check (the newsletter form posts here); a stale
    # token from someone else's page would not.
    form = {"email": "a@example.com", "source": "article"}
    forged = visitor.post("/newsletter/", {**form, "csrfmiddlewaretoken": "x" * 64})
    assert forged.status_code == 403
    posted = visitor.post("/newsletter/", {**form, "csrfmiddlewaretoken": tokens.pop()})
    assert posted.status_code != 403


def test_signed_in_users_and_staff_always_get_fresh_pages(client):
    fetch(client)
    staff = Client()
    staff.force_login(StaffFactory())
    assert "X-Page-Cache" not in fetch(staff)
    assert "Sign out" in fetch(staff).content.decode()


def test_pending_flash_messages_bypass_the_cache_and_are_shown(client, rf):
    fetch(client)
    fetch(client)
    request = rf.get("/")
    storage = CookieStorage(request)
    storage.add(constants.SUCCESS, "Thanks, you are subscribed.")
    response = client.get("/")  # any response to carry the cookie
    storage.update(response)
    client.cookies.update(response.cookies)
    page = fetch(client)
    assert "X-Page-Cache" not in page
    assert "Thanks, you are subscribed." in page.content.decode()
    assert "Thanks, you are subscribed." not in fetch(client).content.decode()


def test_saving_an_article_shows_the_change_at_once(client):
    article = ArticleFactory(title="Before")
    fetch(client)
    assert fetch(client)["X-Page-Cache"] == "hit"
    article.title = "After"
    article.save()
    page = fetch(client)
    assert page["X-Page-Cache"] == "miss" and "After" in page.content.decode()


def test_publishing_unpublishing_and_tag_changes_invalidate(client):
    draft = ArticleFactory(title="Fresh news", status=Article.Status.DRAFT)
    fetch(client)
    article_publish(articles=Article.objects.filter(pk=draft.pk))
    assert "Fresh news" in fetch(client).content.decode()
    article_unpublish(articles=Article.objects.filter(pk=draft.pk))
    assert "Fresh news" not in fetch(client).content.decode()

    live = ArticleFactory()
    url = live.get_absolute_url()
    fetch(client, url)
    live.tags.add(TagFactory(name="Brand new tag"))
    assert "Brand new tag" in fetch(client, url).content.decode()


def test_scheduled_article_appears_on_time(client, monkeypatch):
    """The cache generation ends when the next scheduled article goes live."""
    ArticleFactory(title="Already out")
    go_live = timezone.now() + timedelta(minutes=5)
    ArticleFactory(title="Embargoed", published_at=go_live)
    assert "Embargoed" not in fetch(client).content.decode()
    generation, remaining = pagecache.current_generation()
    assert 0 < remaining <= 300
    assert fetch(client)["X-Page-Cache"] == "hit"

    later = go_live + timedelta(seconds=1)
    monkeypatch.setattr(pagecache.time, "time", later.timestamp)
    monkeypatch.setattr(timezone, "now", lambda: later)
    page = fetch(client)
    assert page["X-Page-Cache"] == "miss" and "Embargoed" in page.content.decode()
    assert pagecache.current_generation()[0] != generation


def test_lifetime_stays_well_under_the_form_timestamp_validity(settings):
    settings.PAGE_CACHE_SECONDS = 10 * 24 * 3600
    assert pagecache.cache_seconds() <= 3600


def test_cache_can_be_turned_off(client, settings):
    settings.PAGE_CACHE_SECONDS = 0
    fetch(client)
    assert "X-Page-Cache" not in fetch(client)


def test_errors_and_redirects_are_not_cached(client):
    article = ArticleFactory(slug="old")
    article.slug = "new"
    article.save()
    assert client.get("/news/old/")["Location"] == "/news/new/"
    assert "X-Page-Cache" not in client.get("/news/old/")
    assert client.get("/news/missing/").status_code == 404
    ArticleFactory(slug="missing")
    assert client.get("/news/missing/").status_code == 200


def test_messages_are_not_consumed_by_the_cache_check(rf):
    request = rf.get("/news/")
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    request.user = AnonymousUser()
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    request._messages.add(constants.INFO, "hello")
    assert pagecache._cacheable_request(request) is False
    assert [str(m) for m in get_messages(request)] == ["hello"]


def test_tracking_parameters_share_the_page_and_other_parameters_skip_the_cache(client):
    fetch(client, "/news/?page=1")
    assert fetch(client, "/news/?page=1&utm_source=newsletter&fbclid=abc")["X-Page-Cache"] == "hit"
    assert fetch(client, "/news/?page=2")["X-Page-Cache"] == "miss"
    for url in ("/news/?q=python", "/news/?page=1&nonsense=1", "/news/?q=python"):
        assert "X-Page-Cache" not in fetch(client, url)


def test_sitemap_pages_are_cached_per_page(client):
    ArticleFactory()
    assert fetch(client, "/sitemap-articles.xml")["X-Page-Cache"] == "miss"
    assert fetch(client, "/sitemap-articles.xml")["X-Page-Cache"] == "hit"
    assert fetch(client, "/sitemap.xml")["X-Page-Cache"] == "miss"


def test_signed_in_readers_share_the_sidebar_until_content_changes():
    """Fresh pages for signed-in readers still reuse the related/recent lists and the rendered
    lead forms; publishing something new refreshes them at once."""
    article = ArticleFactory()
    reader = Client()
    reader.force_login(StaffFactory())
    url = article.get_absolute_url()
    pagecache.current_generation()
    first = queries_to_fetch(reader, url)
    second = queries_to_fetch(reader, url)
    # From the cache: the article and its tags (2 queries), related and recent (2) and the lead
    # forms' course and platform choices (4). Left: the reader's session and user.
    assert second == first - 8 == 2
    ArticleFactory(title="Just published", category=article.category)
    assert "Just published" in fetch(reader, url).content.decode()


def test_signed_in_readers_share_the_list_until_content_changes():
    """A list page for a signed-in reader reuses the count, the page's cards and the sidebar;
    page numbers, garbage or too large, still land on a real page; publishing shows at once."""
    category = CategoryFactory()
    for number in range(25):
        ArticleFactory(title=f"Insight number {number}", category=category)
    reader = Client()
    reader.force_login(StaffFactory())
    pagecache.current_generation()
    first = queries_to_fetch(reader, "/news/?page=2")
    second = queries_to_fetch(reader, "/news/?page=2")
    # From the cache: the count, the page's articles and the categories. Left: session, user.
    assert second == first - 3 == 2
    last = fetch(reader, "/news/?page=999").content.decode()
    assert "Insight number 0<" in last and "Insight number 10<" not in last
    assert "Insight number 24<" in fetch(reader, "/news/?page=banana").content.decode()
    # A category's first page: its own count, cards and sidebar, and the category itself.
    assert queries_to_fetch(reader, category.get_absolute_url() + "?page=3") == 2 + 3 + 1
    ArticleFactory(title="Just published", category=category)
    page = fetch(reader, "/news/").content.decode()
    assert "Just published" in page and "Insight number 15<" not in page


def test_search_results_are_never_kept():
    ArticleFactory(title="Python for data analysts")
    reader = Client()
    reader.force_login(StaffFactory())
    for _ in range(2):
        page = fetch(reader, "/news/?q=python").content.decode()
        assert "Python for data analysts" in page and "1 article matching" in page
    ArticleFactory(title="Python in the cloud")
    assert "2 articles matching" in fetch(reader, "/news/?q=python").content.decode()
    # A search shares the list's sidebar, not its count.
    assert "Python in the cloud" in fetch(reader, "/news/").content.decode()


def queries_to_fetch(client, url):
    with CaptureQueriesContext(connection) as captured:
        fetch(client, url)
    return len(captured)


def test_cached_lead_forms_carry_each_visitors_own_valid_csrf_token():
    """The forms fragment is shared, the token inside it is not."""
    article = ArticleFactory()
    tokens = []
    for _ in range(2):
        reader = Client(enforce_csrf_checks=True)
        reader.force_login(StaffFactory())
        html = fetch(reader, article.get_absolute_url()).content.decode()
        assert pagecache.CSRF_PLACEHOLDER not in html
        found = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert found
        # The visitor's token passes the CSRF check (a form error, not a 403).
        response = reader.post("/contact/", {"csrfmiddlewaretoken": found[0]})
        assert response.status_code == 200
        tokens.append(found[0])
    assert tokens[0] != tokens[1]


def test_campaign_visitors_landing_on_a_cached_page_keep_their_attribution(client):
    """Hits for cookie-less readers are served early in the middleware stack, but after the
    attribution middleware: an article is where a campaign's visitors land."""
    article = ArticleFactory()
    fetch(Client(), article.get_absolute_url())
    landing = fetch(client, article.get_absolute_url() + "?utm_source=linkedin&ref=friend1")
    assert landing["X-Page-Cache"] == "hit"
    kept = client.session["attribution"]
    assert kept["utm_source"] == "linkedin" and kept["ref"] == "FRIEND1"
    # Now carrying a session, the visitor is still served from the cache (by the view's check).
    assert fetch(client, article.get_absolute_url())["X-Page-Cache"] == "hit"


def test_cached_pages_carry_the_security_headers(client):
    article = ArticleFactory()
    fresh = fetch(client, article.get_absolute_url())
    cached = fetch(Client(), article.get_absolute_url())
    assert cached["X-Page-Cache"] == "hit"
    for header in ("X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options"):
        assert cached[header] == fresh[header], header
    assert "Cookie" in cached["Vary"]


def test_a_process_never_serves_its_own_copy_after_staff_publish(client):
    """Each process keeps copies of pages it served; the shared generation decides if they
    are current, so publishing shows at once in every process."""
    ArticleFactory(title="Already live")
    fetch(client)
    assert fetch(Client())["X-Page-Cache"] == "hit"
    draft = ArticleFactory(
        title="Fresh off the press", status=Article.Status.DRAFT, published_at=None
    )
    article_publish(articles=Article.objects.filter(pk=draft.pk))
    response = fetch(Client())
    assert "Fresh off the press" in response.content.decode()
    assert response["X-Page-Cache"] == "miss"


def test_only_cached_pages_are_looked_up(client, monkeypatch):
    """Forms, accounts and unknown URLs pay nothing for the page cache."""
    looked_up = []
    monkeypatch.setattr(pagecache, "_find_page", lambda key: looked_up.append(key))
    for url in ("/quote/", "/contact/", "/newsletter/", "/accounts/login/", "/no-such-page/"):
        client.get(url)
    assert looked_up == []
    fetch(client, "/news/")
    assert looked_up


def test_a_changed_urlconf_is_followed(client, settings):
    """The middleware remembers which URLs lead to cached pages; a new URLconf starts over."""
    ArticleFactory()
    fetch(client, "/news/")
    assert fetch(Client(), "/news/")["X-Page-Cache"] == "hit"
    settings.ROOT_URLCONF = "tests.articles.urls_without_news"
    response = Client().get("/news/")
    assert response.content == b"The news moved."
    assert "X-Page-Cache" not in response


def test_article_pages_share_their_lead_forms_but_not_the_article_inside():
    """The lead forms are rendered once for every article; each page's hidden inputs still name
    its own article and address, as does the newsletter form (what leads and sign-ups are
    attributed to)."""
    first, second = ArticleFactory(), ArticleFactory()
    reader = Client()
    reader.force_login(StaffFactory())
    pagecache.current_generation()
    cold_first = queries_to_fetch(reader, first.get_absolute_url())
    with CaptureQueriesContext(connection) as captured:
        html = fetch(reader, second.get_absolute_url()).content.decode()
    # The second page loads its own article, tags, related and recent, not the forms' choices.
    assert len(captured) == cold_first - 4
    for form in ("callback", "quote"):
        assert f'name="{form}-article" value="{second.pk}"' in html
        assert f'name="{form}-next" value="{second.get_absolute_url()}"' in html
    assert f'name="article" value="{second.pk}" id="nl-article-article"' in html
    assert "__LEADS_ARTICLE" not in html
