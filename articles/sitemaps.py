from django.db.models import Max, Q
from django.utils import timezone

from skilldacity.sitemaps import CanonicalSitemap

from .models import Article, Category


class ArticleSitemap(CanonicalSitemap):
    changefreq = "weekly"
    priority = 0.8
    # Smaller pages keep each (uncached) sitemap request short; an index lists them all.
    limit = 1000

    def items(self):
        return (
            Article.objects.published()
            .only("slug", "updated_at", "published_at")
            .order_by("-published_at", "-id")
        )

    def lastmod(self, article):
        return article.updated_at

    def get_latest_lastmod(self):
        # The default would load every article to find the newest change.
        return Article.objects.published().aggregate(latest=Max("updated_at"))["latest"]


class CategorySitemap(CanonicalSitemap):
    changefreq = "weekly"
    priority = 0.6

    def items(self):
        live = Q(
            articles__status=Article.Status.PUBLISHED,
            articles__published_at__lte=timezone.now(),
        )
        return Category.objects.annotate(
            last_article_change=Max("articles__updated_at", filter=live)
        ).order_by("name")

    def lastmod(self, category):
        return category.last_article_change

    def get_latest_lastmod(self):
        return Article.objects.published().aggregate(latest=Max("updated_at"))["latest"]
