"""Pages run a fixed number of queries, the same with 10 articles as with many."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from articles.demo import seed_bulk_articles

from .factories import ArticleFactory, CategoryFactory, TagFactory
from .query_counts import MAX_QUERIES, count_queries, page_urls

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    settings.PAGE_CACHE_SECONDS = 0


def add_articles(count):
    tags = [TagFactory(), TagFactory()]
    category = CategoryFactory()
    for number in range(count):
        ArticleFactory(title=f"Insight {number}", category=category, tags=tags[: number % 3])


def test_query_counts_do_not_grow_with_the_number_of_articles(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        add_articles(12)
    urls = page_urls()
    small = count_queries(urls)
    seed_bulk_articles(300)
    add_articles(12)
    large = count_queries(urls)
    assert small == large
    for name, count in large.items():
        assert count <= MAX_QUERIES[name], (name, count)


def test_list_page_query_count(client, django_assert_num_queries):
    add_articles(25)
    # Count, one page of articles with category and author, the category menu.
    with django_assert_num_queries(3):
        client.get("/news/?page=2")


def test_detail_page_queries_are_bounded(client, django_assert_max_num_queries):
    add_articles(25)
    url = page_urls()["detail"]
    # Article with category and author, its tags, related, recent (+ the CTA slots' own).
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    assert len(captured) >= 4
    with django_assert_max_num_queries(MAX_QUERIES["detail"]):
        client.get(url)
