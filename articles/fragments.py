"""The parts of article pages and article lists that are the same for every reader, rendered
once per cache generation (see skilldacity.pagecache), so even a fresh page does little work.
None of them carries anything about the visitor: their forms get their CSRF token and timestamp
from the page's script (skilldacity/formtokens.py)."""

import hashlib
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.safestring import mark_safe

from newsletter.rendering import render_signup_form
from skilldacity.context_processors import site
from skilldacity.httpcache import add_surrogate_keys
from skilldacity.pagecache import cached_fragments

from .models import Article, Category

PAGE_SIZE = 10


class ArticleNotLive(LookupError):
    """No published article has the slug asked for."""


def live_article_fragments(slug, request):
    """Everything an article page shows about its article, or None if no live article has `slug`.

    When the current generation holds every fragment for this slug, the page needs no database
    query for the article at all; fragments are keyed by slug, and a slug change (like any article
    change) starts a new generation. The article is loaded only to build what is missing.
    """
    loaded = []

    def article():
        if not loaded:
            found = next(
                iter(
                    Article.objects.select_related("category", "author")
                    .prefetch_related("tags")
                    .published()
                    .filter(slug=slug)
                    # No ORDER BY: with one, PostgreSQL may walk the publication-date index
                    # instead of the slug's unique index.
                    .order_by()[:1]
                ),
                None,
            )
            if found is None:
                raise ArticleNotLive(slug)
            loaded.append(found)
        return loaded[0]

    try:
        rendered = cached_fragments(_builders(article, _fragment_prefix(slug), preview=False))
    except ArticleNotLive:
        return None
    fragments = _by_short_name(rendered)
    add_surrogate_keys(request, *fragments.pop("keys").split())
    return fragments


def preview_fragments(article, request):
    """The same fragments for a staff preview: always rendered afresh, never cached."""
    builders = _builders(lambda: article, f"preview:{article.pk}", preview=True)
    return _by_short_name({name: build() for name, build in builders.items()})


def _builders(article, prefix, *, preview):
    """Name -> function rendering that part of the page (and `keys`: the page's surrogate keys,
    the objects it shows). Signed-in readers share them too, so they do not pay for rendering
    five forms on every view."""
    return {
        f"{prefix}:keys": lambda: _surrogate_keys(article()),
        f"{prefix}:head": lambda: render_to_string(
            "articles/_article_head.html",
            {"article": article(), "preview": preview, **site(None)},
        ),
        f"{prefix}:main": lambda: render_to_string(
            "articles/_article_main.html", {"article": article()}
        ),
        f"{prefix}:cta": lambda: _lead_forms(article(), shared=not preview),
        f"{prefix}:aside": lambda: render_to_string(
            "articles/_article_aside.html",
            {
                "article": article(),
                "sidebar": _sidebar_links(article()),
            },
        ),
        # Shared by every article page, so a cold article page only builds its own parts.
        "newsletter:footer": lambda: render_signup_form("footer"),
    }


def listing_fragments(listed, *, category=None, tag=None, page_number=None, query=""):
    """An article list's page, its cards with the page links, and its sidebar, as
    (page, cards, aside).

    Without a search, the count, each page's cards and links and the sidebar are rendered once per
    generation, so a list page a reader is not served from the page cache (signed in, or an
    address the cache does not key) needs no query for them. Search results, as many as there
    are searches, are always rendered afresh. `page` is the requested page in a paginator of the
    right shape: its numbers, not its articles, are what the page around the cards uses.
    `listed()` gives the articles to list; it is called only when they are needed (building
    the query was a fifth of a list page served from fragments).
    """
    scope = f"list:{category.slug if category else ''}:{tag.slug if tag else ''}"
    if len(scope) > 120:
        scope = f"list:{hashlib.sha256(scope.encode()).hexdigest()}"
    builders = {
        f"{scope}:aside": lambda: render_to_string(
            "articles/_list_aside.html",
            {"category": category, "tag": tag, "categories": Category.objects.all()},
        )
    }
    if not query:
        # With the sidebar: a process without copies fetches both in one round trip.
        builders[f"{scope}:count"] = lambda: str(listed().count())
    shared = cached_fragments(builders)
    aside = shared[f"{scope}:aside"]

    def cards(items, page):
        context = {
            "articles": items,
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
            "query": query,
            "query_prefix": f"{urlencode({'q': query})}&" if query else "",
            "category": category,
        }
        return render_to_string("articles/_list_cards.html", context)

    if query:
        page = Paginator(listed(), PAGE_SIZE).get_page(page_number)
        return page, mark_safe(cards(page, page)), mark_safe(aside)  # noqa: S308 - rendered
    count = int(shared[f"{scope}:count"])
    page = Paginator(range(count), PAGE_SIZE).get_page(page_number)
    start = (page.number - 1) * PAGE_SIZE
    key = f"{scope}:page:{page.number}"
    rendered = cached_fragments({key: lambda: cards(listed()[start : start + PAGE_SIZE], page)})
    return page, mark_safe(rendered[key]), mark_safe(aside)  # noqa: S308 - rendered templates


# Stand-ins for the article in the lead forms all article pages share (see _lead_forms).
_ARTICLE_PK = "__LEADS_ARTICLE_PK__"
_ARTICLE_PATH = "__LEADS_ARTICLE_PATH__"


class _EveryArticle:
    pk = _ARTICLE_PK

    def get_absolute_url(self):
        return _ARTICLE_PATH


def _lead_forms(article, *, shared):
    """The "Let's get in touch" and "Get a quote" forms for an article page.

    They differ between articles only in two hidden inputs (the article and its address), and
    rendering their widgets was two thirds of building a page's fragments, so they are rendered
    once per generation for every article and the two values put in."""
    if not shared:
        return render_to_string("articles/_article_cta.html", {"article": article})
    html = cached_fragments(
        {
            "articles:lead-forms": lambda: render_to_string(
                "articles/_article_cta.html",
                {"article": _EveryArticle()},
            )
        }
    )["articles:lead-forms"]
    # Escaped as the widgets would have escaped them.
    return html.replace(_ARTICLE_PK, escape(article.pk)).replace(
        _ARTICLE_PATH, escape(article.get_absolute_url())
    )


def _by_short_name(rendered):
    """Fragments by short name (keys, head, main, cta, aside, footer)."""
    # Template renders, autoescaped where they were built.
    return {name.rsplit(":", 1)[-1]: mark_safe(html) for name, html in rendered.items()}  # noqa: S308


def _surrogate_keys(article):
    """The article, and its category and tags, whose names the page shows."""
    keys = [f"article-{article.pk}"]
    if article.category_id:
        keys.append(f"category-{article.category_id}")
    keys += [f"tag-{tag.pk}" for tag in article.tags.all()]
    return " ".join(keys)


def _fragment_prefix(slug):
    # Cache keys stay short (and valid for any backend) however long a slug is.
    if len(slug) <= 80:
        return f"article:{slug}"
    return f"article:{hashlib.sha256(slug.encode()).hexdigest()}"


def _sidebar_links(article):
    related = related_articles(article)
    # An article listed as related is not listed again as recent.
    recent = recent_articles(exclude=[article, *related["articles"]])
    return render_to_string("articles/_sidebar_links.html", {"related": related, "recent": recent})


def recent_articles(exclude=(), limit=5):
    """The newest live articles, leaving out `exclude` (those already on the page)."""
    articles = Article.objects.published().only("title", "slug", "published_at")
    if exclude:
        articles = articles.exclude(pk__in=[article.pk for article in exclude])
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
