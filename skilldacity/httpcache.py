"""HTTP caching headers: public pages for the shared cache in front, everything else private.

Anonymous readers are served by a standard reverse proxy or CDN (deploy/), which stores what the
application marks public and is purged by surrogate key when content changes. A view whose GET
is the same page for every anonymous visitor is decorated with `cache_public_page`; the
middleware then decides, after every other middleware has had its say (sessions, CSRF and
messages set their cookies on the way out), whether this particular response may be shared:

- public: a GET or HEAD answered 200 to a visitor who is not signed in, with no message to show
  and no cookie set. It gets `Cache-Control: public, max-age, s-maxage, stale-while-revalidate,
  stale-if-error`, an ETag (conditional GETs answer 304), a `Surrogate-Key` header, and no
  `Vary: Cookie`: the page carries nothing about the visitor, so a shared cache need not keep a
  copy per cookie (the proxy itself passes signed-in readers, by their session cookie, to the
  application).
- everything else that did not choose its own caching: `private, no-store`. A response that sets
  a cookie is never public, whatever the view said.

Settings, in seconds: PAGE_CACHE_SECONDS (s-maxage, default 600, 0 makes nothing public; capped
at the next scheduled publication), PAGE_BROWSER_CACHE_SECONDS (max-age, 0),
PAGE_STALE_WHILE_REVALIDATE_SECONDS (30), PAGE_STALE_IF_ERROR_SECONDS (86400); and
SURROGATE_KEY_HEADER ("Surrogate-Key").
"""

import functools
import time

from django.conf import settings
from django.utils.cache import get_conditional_response, set_response_etag
from django.utils.http import parse_http_date_safe

PRIVATE = "private, no-store"
SAFE_METHODS = ("GET", "HEAD")


def add_surrogate_keys(request, *keys):
    """Name what a page shows, so a purge of any of these keys removes it from shared caches.

    Vocabulary (agreed with the purge side): every public page `site`; an article page
    `article-<pk>`; list pages `list`, `category-<pk>`, `tag-<pk>`; feeds `feed`; sitemaps
    `sitemap`."""
    existing = getattr(request, "surrogate_keys", None)
    if existing is None:
        existing = request.surrogate_keys = set()
    existing.update(keys)


def cache_public_page(view=None, *, keys=()):
    """Mark a view whose anonymous GET answer is the same page for every visitor. `keys` are its
    surrogate keys besides `site` (a view may add more with `add_surrogate_keys`)."""
    if view is None:
        return lambda view: cache_public_page(view, keys=keys)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        add_surrogate_keys(request, "site", *keys)
        response = view(request, *args, **kwargs)
        response.public_page = True
        return response

    return wrapper


def shared_cache_seconds():
    """s-maxage: PAGE_CACHE_SECONDS, but never past the next scheduled publication."""
    from . import pagecache

    seconds = int(settings.PAGE_CACHE_SECONDS)
    if seconds <= 0:
        return 0
    next_publication = pagecache.next_publication()
    if next_publication is not None:
        seconds = min(seconds, max(0, int(next_publication - time.time())))
    return seconds


def _may_share(request, response):
    if not getattr(response, "public_page", False):
        return False
    if request.method not in SAFE_METHODS or response.status_code != 200 or response.streaming:
        return False
    if response.cookies or any(
        word in response.get("Cache-Control", "") for word in ("private", "no-store", "no-cache")
    ):
        return False
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return False
    # Messages shown on this page, or waiting for the next one.
    storage = getattr(request, "_messages", None)
    return storage is None or len(storage) == 0


def _without_cookie_in_vary(response):
    kept = [
        value.strip()
        for value in response.get("Vary", "").split(",")
        if value.strip() and value.strip().lower() != "cookie"
    ]
    if kept:
        response["Vary"] = ", ".join(kept)
    elif response.has_header("Vary"):
        del response["Vary"]


class CacheHeadersMiddleware:
    """Sits near the top of MIDDLEWARE (after WhiteNoise, whose static files keep their own
    headers), so it sees the response last, with every cookie on it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        seconds = shared_cache_seconds() if _may_share(request, response) else 0
        if seconds <= 0:
            cache_control = response.get("Cache-Control", "")
            shareable = "private" not in cache_control and "no-store" not in cache_control
            if not cache_control or (response.cookies and shareable):
                response["Cache-Control"] = PRIVATE
            return response
        response["Cache-Control"] = (
            f"public, max-age={min(int(settings.PAGE_BROWSER_CACHE_SECONDS), seconds)}, "
            f"s-maxage={seconds}, "
            f"stale-while-revalidate={int(settings.PAGE_STALE_WHILE_REVALIDATE_SECONDS)}, "
            f"stale-if-error={int(settings.PAGE_STALE_IF_ERROR_SECONDS)}"
        )
        _without_cookie_in_vary(response)
        keys = getattr(request, "surrogate_keys", None) or {"site"}
        header = settings.SURROGATE_KEY_HEADER
        response[header] = " ".join(sorted(keys))
        if not response.has_header("ETag"):
            set_response_etag(response)
        last_modified = response.get("Last-Modified")
        answer = get_conditional_response(
            request,
            etag=response["ETag"],
            last_modified=parse_http_date_safe(last_modified) if last_modified else None,
            response=response,
        )
        # A cache revalidating its copy keeps the keys it is purged by.
        answer[header] = response[header]
        return answer
