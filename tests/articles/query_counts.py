"""Shared by the SQLite and PostgreSQL query-count tests: the pages and how to count them."""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from articles.models import Article

# Upper bounds leave room for the call-to-action forms other apps place on the pages; the
# real rule is that the count does not grow with the number of articles.
MAX_QUERIES = {"list": 6, "search": 6, "category": 7, "detail": 10, "feed": 5, "sitemap": 5}


def page_urls():
    article = Article.objects.published().first()
    return {
        "list": "/news/?page=2",
        "search": "/news/?q=insight",
        "category": article.category.get_absolute_url(),
        "detail": article.get_absolute_url(),
        "feed": "/news/feed/atom/",
        "sitemap": "/sitemap-articles.xml",
    }


def count_queries(urls):
    """Queries per page for an anonymous reader, with the page cache off."""
    counts = {}
    for name, url in urls.items():
        client = Client()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (name, url, response.status_code)
        counts[name] = len(captured)
    return counts
