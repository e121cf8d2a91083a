"""Articles on PostgreSQL and Redis: fixed query counts with many articles, and the page cache
shared through Redis, invalidated the moment staff publish."""

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


def test_page_cache_lives_in_redis_and_is_invalidated_on_publish():
    cache = caches["default"]
    assert isinstance(caches["default"], RedisCache)
    ArticleFactory(title="Old news")
    draft = ArticleFactory(title="Breaking news", status=Article.Status.DRAFT)
    reader = Client()
    assert reader.get("/news/")["X-Page-Cache"] == "miss"
    # Another process (another gunicorn worker) sees the same cached page.
    assert Client().get("/news/")["X-Page-Cache"] == "hit"
    stored = redis.Redis.from_url(django_settings.REDIS_URL).keys(
        f"{cache.key_prefix}:*pagecache:page:*"
    )
    assert len(stored) == 1
    article_publish(articles=Article.objects.filter(pk=draft.pk))
    page = Client().get("/news/")
    assert page["X-Page-Cache"] == "miss" and "Breaking news" in page.content.decode()
