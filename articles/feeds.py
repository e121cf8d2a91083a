"""RSS and Atom feeds, site-wide and per category (from django.contrib.syndication)."""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from skilldacity.httpcache import add_surrogate_keys, cache_public_page

from .metadata import absolute
from .models import Article, Category

FEED_SIZE = 20


class CachedFeed(Feed):
    def __call__(self, request, *args, **kwargs):
        return cache_public_page(super().__call__, keys=("feed",))(request, *args, **kwargs)


class LatestArticlesFeed(CachedFeed):
    title = f"{settings.SITE_NAME} News & Insights"
    description = "Careers, skills and technology: the latest from Skilldacity."

    def link(self):
        return absolute(reverse("articles:list"))

    def feed_url(self):
        return absolute(reverse("articles:feed_rss"))

    def item_link(self, item):
        # Canonical addresses, whatever host the feed reader used.
        return absolute(item.get_absolute_url())

    def articles(self):
        return Article.objects.published().for_listing().prefetch_related("tags")

    def items(self):
        return self.articles()[:FEED_SIZE]

    def item_title(self, item):
        return item.title

    def item_description(self, item):
        return item.summary

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.updated_at

    def item_author_name(self, item):
        return item.author.name if item.author else None

    def item_categories(self, item):
        names = [tag.name for tag in item.tags.all()]
        return [item.category.name, *names] if item.category else names


class LatestArticlesAtomFeed(LatestArticlesFeed):
    feed_type = Atom1Feed
    subtitle = LatestArticlesFeed.description

    def feed_url(self):
        return absolute(reverse("articles:feed_atom"))


class CategoryFeed(LatestArticlesFeed):
    def get_object(self, request, slug):
        category = get_object_or_404(Category, slug=slug)
        add_surrogate_keys(request, f"category-{category.pk}")
        return category

    def title(self, category):
        return f"{category.name}: {settings.SITE_NAME} News & Insights"

    def description(self, category):
        return category.description or f"The latest {category.name} articles from Skilldacity."

    def link(self, category):
        return absolute(category.get_absolute_url())

    def feed_url(self, category):
        return absolute(reverse("articles:category_feed_rss", kwargs={"slug": category.slug}))

    def items(self, category):
        return self.articles().filter(category=category)[:FEED_SIZE]


class CategoryAtomFeed(CategoryFeed):
    feed_type = Atom1Feed

    def subtitle(self, category):
        return self.description(category)

    def feed_url(self, category):
        return absolute(reverse("articles:category_feed_atom", kwargs={"slug": category.slug}))
