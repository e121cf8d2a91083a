"""Articles on PostgreSQL and Redis: fixed query counts with many articles, and the fragment
cache shared through Redis, invalidated the moment staff publish."""

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client

from articles.demo import seed_bulk_articles
from articles.models import Article
from articles.services import article_publish
from tests.articles.factories import ArticleFactory, CategoryFactory, TagFactory
from tests.articles.query_counts import MAX_QUERIES, count_queries, page_urls

pytestmark = pytest.mark.django_db(transaction=True)


def test_query_counts_are_the_same_with_10_and_3000_articles(settings):
    settings.PAGE_CACHE_SECONDS = 0
    category, tag = CategoryFactory(), TagFactory()
    for number in range(10):
        ArticleFactory(title=f"Insight {number}", category=category, tags=[tag])
    urls = page_urls()
    small = count_queries(urls)
    seed_bulk_articles(3000)
    assert Article.objects.published().count() == 3010
    large = count_queries(urls)
    assert small == large
    assert all(count <= MAX_QUERIES[name] for name, count in large.items()), large


def test_fragments_live_in_redis_and_are_invalidated_on_publish():
    """Pages themselves are kept by the HTTP cache in front; the application shares the
    rendered fragments between its processes through Redis, and drops them on publish."""
    cache = caches["default"]
    assert isinstance(caches["default"], RedisCache)
    ArticleFactory(title="Old news")
    draft = ArticleFactory(title="Breaking news", status=Article.Status.DRAFT)
    first = Client().get("/news/")
    assert first["Cache-Control"].startswith("public,") and "list" in first["Surrogate-Key"]
    stored = redis.Redis.from_url(django_settings.REDIS_URL).keys(
        f"{cache.key_prefix}:*pagecache:fragment:*"
    )
    assert stored
    article_publish(articles=Article.objects.filter(pk=draft.pk))
    page = Client().get("/news/")
    assert "Breaking news" in page.content.decode() and page["ETag"] != first["ETag"]
