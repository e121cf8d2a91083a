"""The parts of an article page that are the same for every reader, rendered once per cache
generation (see skilldacity.pagecache), so even a fresh page does little work."""

from django.db.models import Count, Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from skilldacity.pagecache import CSRF_PLACEHOLDER, cached_fragments, with_visitor_csrf

from .models import Article


def render_article_fragments(article, request, *, preview=False):
    """The main column (header, body, tags, share links, author), the sidebar (related and
    recent articles) and the lead forms, fetched in one cache round trip; a staff preview always
    renders afresh. The forms are rendered with a placeholder CSRF token that becomes this
    visitor's token here, so signed-in readers (never served from the page cache) do not pay
    for rendering two crispy forms on every view."""
    builders = {
        f"main:{article.pk}": lambda: render_to_string(
            "articles/_article_main.html", {"article": article}
        ),
        f"sidebar:{article.pk}": lambda: render_to_string(
            "articles/_sidebar_links.html",
            {"related": related_articles(article), "recent": recent_articles(article)},
        ),
        f"cta:{article.pk}": lambda: render_to_string(
            "articles/_article_cta.html", {"article": article, "csrf_token": CSRF_PLACEHOLDER}
        ),
    }
    if preview:
        rendered = {name: build() for name, build in builders.items()}
    else:
        rendered = cached_fragments(builders)
    # Template renders, autoescaped where they were built.
    main, sidebar, cta = rendered.values()
    return {
        "main": mark_safe(main),  # noqa: S308
        "sidebar": mark_safe(sidebar),  # noqa: S308
        "cta": mark_safe(with_visitor_csrf(cta, request)),  # noqa: S308
    }


def recent_articles(exclude=None, limit=5):
    """The newest live articles, without the one being read."""
    articles = Article.objects.published().only("title", "slug", "published_at")
    if exclude is not None:
        articles = articles.exclude(pk=exclude.pk)
    return {"articles": list(articles[:limit]), "heading": "Recent Articles", "slot": "recent"}


def related_articles(article, limit=3, candidates=50):
    """Live articles sharing the most tags with this one, else its category, newest first.

    Ranking looks only at the newest `candidates` related articles, so the work stays the same
    with 10 or 100,000 articles (an index scan on publication time stops early).
    """
    tag_ids = [tag.pk for tag in article.tags.all()]
    shares_tag = Exists(
        Article.tags.through.objects.filter(article_id=OuterRef("pk"), tag_id__in=tag_ids)
    )
    shares = shares_tag | Q(category_id=article.category_id) if article.category_id else shares_tag
    newest_related = (
        Article.objects.published()
        .exclude(pk=article.pk)
        .filter(shares)
        .order_by("-published_at", "-id")
        .values("pk")[:candidates]
    )
    related = (
        Article.objects.filter(pk__in=newest_related)
        .annotate(shared_tags=Count("tags", filter=Q(tags__in=tag_ids)))
        .only("title", "slug", "published_at")
        .order_by("-shared_tags", "-published_at", "-id")
    )
    return {"articles": list(related[:limit]), "heading": "Related articles", "slot": "related"}
