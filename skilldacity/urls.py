from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.sitemaps import views as sitemap_views
from django.urls import include, path

from articles.sitemaps import ArticleSitemap, CategorySitemap

from . import formtokens, views
from .httpcache import cache_public_page
from .sitemaps import StaticViewSitemap

SITEMAPS = {
    "static": StaticViewSitemap,
    "articles": ArticleSitemap,
    "categories": CategorySitemap,
}

urlpatterns = [
    path("", views.home, name="home"),
    path("robots.txt", views.robots_txt, name="robots_txt"),
    # An index of per-section sitemaps, each paginated, so 10,000s of articles stay listed.
    path(
        "sitemap.xml",
        cache_public_page(sitemap_views.index, keys=("sitemap",)),
        {"sitemaps": SITEMAPS},
        name="sitemap",
    ),
    path(
        "sitemap-<section>.xml",
        cache_public_page(sitemap_views.sitemap, keys=("sitemap",)),
        {"sitemaps": SITEMAPS},
        name="django.contrib.sitemaps.views.sitemap",
    ),
    path("favicon.ico", views.favicon),
    path("forms/token/", formtokens.form_token, name="form_token"),
    path("", include("skilldacity.health")),
    path("news/", include("articles.urls")),
    path("", include("leads.urls")),
    path("newsletter/", include("newsletter.urls")),
    path("", include("referrals.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/insights/", include("insights.urls")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

admin.site.site_header = "Skilldacity staff"
admin.site.site_title = "Skilldacity staff"

handler500 = "skilldacity.views.server_error"
