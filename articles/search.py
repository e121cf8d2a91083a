"""Searching articles: PostgreSQL full-text search with ranking, a plain LIKE fallback elsewhere."""

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import F, Q

SEARCH_CONFIG = "english"
MAX_QUERY_LENGTH = 200

# Weighted so a match in the title outranks one deep in the body.
SEARCH_DOCUMENT = (
    SearchVector("title", weight="A", config=SEARCH_CONFIG)
    + SearchVector("summary", weight="B", config=SEARCH_CONFIG)
    + SearchVector("body", weight="C", config=SEARCH_CONFIG)
)


def clean_query(raw):
    """What the visitor typed, made safe to hand to the database (NUL bytes break PostgreSQL)."""
    return " ".join((raw or "").replace("\x00", " ").split())[:MAX_QUERY_LENGTH]


def uses_full_text():
    return connection.vendor == "postgresql"


def search_articles(queryset, query):
    """Filter and order `queryset` by relevance to `query` (already cleaned, non-empty)."""
    if uses_full_text():
        search = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
        return (
            queryset.filter(search_vector=search)
            .annotate(rank=SearchRank(F("search_vector"), search))
            .order_by("-rank", "-published_at", "-id")
        )
    condition = Q()
    for word in query.split()[:10]:
        condition &= Q(title__icontains=word) | Q(summary__icontains=word) | Q(body__icontains=word)
    return queryset.filter(condition)


def refresh_search_vectors(queryset):
    """Recompute the stored search document (after commit, in one UPDATE)."""
    if uses_full_text():
        queryset.update(search_vector=SEARCH_DOCUMENT)
