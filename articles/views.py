from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from .models import Article, Category


def article_list(request, slug=None):
    articles = Article.objects.published().select_related("category", "author")
    category = None
    if slug:
        category = get_object_or_404(Category, slug=slug)
        articles = articles.filter(category=category)
    page = Paginator(articles, 10).get_page(request.GET.get("page"))
    return render(request, "articles/article_list.html", {"page": page, "category": category})


def article_detail(request, slug):
    article = get_object_or_404(
        Article.objects.published().select_related("category", "author"), slug=slug
    )
    return render(request, "articles/article_detail.html", {"article": article})
