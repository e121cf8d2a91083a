from django.contrib.sitemaps import Sitemap
from django.urls import reverse


class StaticViewSitemap(Sitemap):
    changefreq = "monthly"
    priority = 0.5

    def items(self):
        return ["home", "articles:list", "leads:quote", "leads:callback", "newsletter:signup"]

    def location(self, item):
        return reverse(item)
