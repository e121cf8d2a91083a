import json

from django import template
from django.db.models import Count, Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from articles import metadata
from articles.models import Article
from skilldacity.pagecache import cached_fragment

register = template.Library()

# As django.utils.html.json_script: nothing in the data can close the <script> element.
_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag
def article_structured_data(article):
    data = json.dumps(metadata.structured_data(article), ensure_ascii=False)
    return mark_safe(  # noqa: S308 - escaped for a script element above
        '<script type="application/ld+json">' + data.translate(_JSON_SCRIPT_ESCAPES) + "</script>"
    )


@register.simple_tag
def article_social_tags(article):
    return metadata.social_tags(article)


@register.simple_tag
def article_share_links(article):
    return metadata.share_links(article)


@register.simple_tag
def article_canonical_url(article):
    return metadata.canonical_url(article)


@register.simple_tag
def article_sidebar(article):
    """Related and recent articles: the same for every reader of this article until the content
    changes, so rendered once per cache generation (they are most of an uncached page's work)."""

    def build():
        return render_to_string(
            "articles/_sidebar_links.html",
            {"related": related_articles(article), "recent": recent_articles(article)},
        )

    return mark_safe(cached_fragment(f"sidebar:{article.pk}", build))  # noqa: S308


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
