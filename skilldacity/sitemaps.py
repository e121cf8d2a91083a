from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.urls import reverse


class CanonicalSitemap(Sitemap):
    """Locations on SITE_URL, the canonical address, whatever host the crawler asked."""

    def get_urls(self, page=1, site=None, protocol=None):
        canonical = urlsplit(settings.SITE_URL)
        site = type("CanonicalSite", (), {"domain": canonical.netloc, "name": settings.SITE_NAME})
        return super().get_urls(page=page, site=site, protocol=canonical.scheme)


class StaticViewSitemap(CanonicalSitemap):
    changefreq = "monthly"
    priority = 0.5

    def items(self):
        return ["home", "articles:list", "leads:quote", "leads:callback", "newsletter:signup"]

    def location(self, item):
        return reverse(item)
