from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from articles.sitemaps import ArticleSitemap, CategorySitemap

from . import views
from .sitemaps import StaticViewSitemap

SITEMAPS = {
    "static": StaticViewSitemap,
    "articles": ArticleSitemap,
    "categories": CategorySitemap,
}

urlpatterns = [
    path("", views.home, name="home"),
    path("robots.txt", views.robots_txt, name="robots_txt"),
    path(
        "sitemap.xml",
        sitemap,
        {"sitemaps": SITEMAPS},
        name="sitemap",
    ),
    path("favicon.ico", views.favicon),
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
