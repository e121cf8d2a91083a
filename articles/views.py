from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from skilldacity.httpcache import add_surrogate_keys, cache_public_page

from .fragments import listing_fragments, live_article_fragments, preview_fragments
from .models import Article, Category, PreviousSlug, Tag
from .search import clean_query, search_articles


@require_safe
@cache_public_page(keys=("list",))
def article_list(request, slug=None, tag_slug=None):
    category = get_object_or_404(Category, slug=slug) if slug else None
    tag = get_object_or_404(Tag, slug=tag_slug) if tag_slug else None
    if category:
        add_surrogate_keys(request, f"category-{category.pk}")
    if tag:
        add_surrogate_keys(request, f"tag-{tag.pk}")
    query = clean_query(request.GET.get("q"))

    def listed():
        articles = Article.objects.published().for_listing()
        if category:
            articles = articles.filter(category=category)
        if tag:
            articles = articles.filter(tags=tag)
        return search_articles(articles, query) if query else articles

    page, cards, aside = listing_fragments(
        listed, category=category, tag=tag, page_number=request.GET.get("page"), query=query
    )
    context = {
        "page": page,
        "category": category,
        "tag": tag,
        "query": query,
        "cards": cards,
        "aside": aside,
    }
    return render(request, "articles/article_list.html", context)


def _can_preview(user):
    return user.is_active and user.is_staff and user.has_perm("articles.change_article")


@require_safe
@cache_public_page
def article_detail(request, slug):
    fragments = live_article_fragments(slug, request)
    if fragments is None:
        moved = PreviousSlug.objects.filter(slug=slug).select_related("article").first()
        if moved is not None:
            return redirect(moved.article, permanent=True)
        if _can_preview(request.user):
            # Staff following "view on site" from the admin land on the preview of a draft.
            draft = Article.objects.filter(slug=slug).only("pk").first()
            if draft is not None:
                return redirect("articles:preview", pk=draft.pk)
        raise Http404("No such article")
    return render(request, "articles/article_detail.html", {"fragments": fragments})


@never_cache
@require_safe
def article_preview(request, pk):
    """Any article as it will look, for staff who may edit articles; a 404 for everyone else."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not _can_preview(request.user):
        raise Http404("No such article")
    article = get_object_or_404(
        Article.objects.select_related("category", "author").prefetch_related("tags"), pk=pk
    )
    context = {
        "article": article,
        "preview": True,
        "fragments": preview_fragments(article, request),
    }
    return render(request, "articles/article_detail.html", context)
