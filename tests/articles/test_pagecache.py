"""The fragment cache: pieces every reader shares, reused until content changes, never stale."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles.models import Article
from articles.services import article_publish, article_unpublish
from skilldacity import pagecache

from .factories import ArticleFactory, CategoryFactory, StaffFactory, TagFactory

pytestmark = pytest.mark.django_db(transaction=True)


def fetch(client, url="/news/"):
    response = client.get(url)
    assert response.status_code == 200
    return response


def queries_to_fetch(client, url):
    with CaptureQueriesContext(connection) as captured:
        fetch(client, url)
    return len(captured)


def test_an_article_page_built_from_fragments_needs_no_query_for_its_article(client):
    """An anonymous reader the HTTP cache did not serve costs the application only the check
    that no article is scheduled: everything the page shows comes from the fragments."""
    article = ArticleFactory()
    url = article.get_absolute_url()
    fetch(client, url)
    assert queries_to_fetch(Client(), url) == 0


def test_saving_an_article_shows_the_change_at_once(client):
    article = ArticleFactory(title="Before")
    fetch(client)
    article.title = "After"
    article.save()
    assert "After" in fetch(client).content.decode()
    assert "After" in fetch(client, article.get_absolute_url()).content.decode()


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

    later = go_live + timedelta(seconds=1)
    monkeypatch.setattr(pagecache.time, "time", later.timestamp)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert "Embargoed" in fetch(client).content.decode()
    assert pagecache.current_generation()[0] != generation


def test_lifetime_is_capped(settings):
    settings.PAGE_CACHE_SECONDS = 10 * 24 * 3600
    assert pagecache.cache_seconds() <= 3600


def test_fragments_can_be_turned_off(client, settings):
    settings.PAGE_CACHE_SECONDS = 0
    article = ArticleFactory()
    first = queries_to_fetch(client, article.get_absolute_url())
    assert queries_to_fetch(client, article.get_absolute_url()) == first > 0


def test_a_cache_outage_renders_pages_instead_of_failing(client, monkeypatch):
    article = ArticleFactory(title="Still readable")

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    for method in ("get", "get_many", "set", "set_many", "delete"):
        monkeypatch.setattr(pagecache.cache, method, unreachable)
    assert "Still readable" in fetch(client, article.get_absolute_url()).content.decode()
    assert "Still readable" in fetch(client).content.decode()


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
