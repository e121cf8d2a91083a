from functools import lru_cache

from django.conf import settings
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse

from .sharing import share_card

# The links and assets every page's header and footer carry. Reversing a URL or looking up a
# static file's hashed name costs tens of microseconds, and the header and footer have twenty
# of them: a third of rendering a fresh article page (bench/articles_pages.py). They cannot
# change while a process runs, so they are worked out once.
SITE_LINKS = {
    "home": "home",
    "news": "articles:list",
    "quote": "leads:quote",
    "contact": "leads:callback",
    "skillpoints": "referrals:landing",
    "skillpoints_dashboard": "referrals:dashboard",
    "staff": "admin:index",
    "login": "login",
    "logout": "logout",
    "feed_rss": "articles:feed_rss",
    "feed_atom": "articles:feed_atom",
    "form_token": "form_token",
}


SITE_ASSETS = {
    "favicon": "img/favicon.svg",
    "bootstrap_css": "vendor/bootstrap/css/bootstrap.min.css",
    "site_css": "css/site.css",
    "site_js": "js/site.js",
    "articles_css": "css/articles.css",
    "articles_js": "js/articles.js",
    "forms_js": "js/forms.js",
}


@lru_cache(maxsize=8)
def _site_links(urlconf, script_prefix, static_url, site_url):
    links = {name: reverse(view, urlconf=urlconf) for name, view in SITE_LINKS.items()}
    links["static"] = {name: static(path) for name, path in SITE_ASSETS.items()}
    links["share_card"] = share_card()
    return links


def site(request):
    return {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_URL": settings.SITE_URL,
        "links": _site_links(
            get_urlconf() or settings.ROOT_URLCONF,
            get_script_prefix(),
            settings.STATIC_URL,
            settings.SITE_URL,
        ),
    }
