"""A public page cache for anonymous readers.

Cached pages contain forms, and forms carry a per-visitor CSRF token. The rendered HTML is stored
with every token replaced by a placeholder; when the page is served, the placeholder becomes a
fresh token for the current visitor (`get_token` also makes CsrfViewMiddleware send the cookie).

Served from cache only to anonymous visitors without pending flash messages; signed-in users and
staff always get a freshly rendered page. Every cached page records the "generation" it belongs
to: any change to the content (see `invalidate`) starts a new one, so older pages stop being
served, and a generation never outlives the next scheduled publication, so a scheduled article
appears on time. Lifetimes stay far below the 24 hours a form's signed timestamp is valid.

Two ways in. `PageCacheMiddleware` serves hits to cookie-less readers (no session: so no
sign-in and no pending messages) before sign-in, messages and URL routing run, which is most of
a hit's cost; everyone else reaches the `cache_public_page` view decorator, which serves hits to
anonymous visitors with a session and renders and stores misses. Each process keeps its own copy
of the pages it served lately, and, on Redis, of the generation (see `_GenerationWatch`), so a
hit usually costs no round trip at all.

Settings: PAGE_CACHE_SECONDS (default 600; 0 turns the cache off).
"""

import functools
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from urllib.parse import urlencode

import redis
from django.conf import settings
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.urls import Resolver404, resolve
from django.utils.cache import patch_vary_headers

from skilldacity.cache import RedisCache

logger = logging.getLogger(__name__)

GENERATION_KEY = "pagecache:generation"
# Every change of the stored generation is announced here (see _GenerationWatch).
CHANGES_CHANNEL = "pagecache:changes"
CSRF_PLACEHOLDER = "__PAGECACHE_CSRF_TOKEN__"
_CSRF_INPUT = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*(")')
# Campaign and click identifiers: read by the attribution middleware, never by a page.
IGNORED_PARAMS = {"ref", "fbclid", "gclid", "msclkid"}
# Never hand a reader a page older than this, whatever the settings say (forms expire at 24 h).
MAX_SECONDS = 3600


class _ProcessCopies:
    """This process's copies of cached pages and fragments, tagged with their generation; the
    most recently used are kept. A copy counts only while its generation is the current one."""

    def __init__(self, size):
        self.size = size
        self.entries = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, generation):
        with self.lock:
            found = self.entries.get(key)
            if found is None or found[0] != generation:
                return None
            self.entries.move_to_end(key)
            return found[1]

    def put(self, key, generation, value):
        with self.lock:
            self.entries[key] = (generation, value)
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


# An article page is about 30 KB and its fragments about as much again: some 10 MB per process.
_copies = _ProcessCopies(size=300)
_UNAVAILABLE = object()
_UNKNOWN = object()


def _cache(method, *args, default=None):
    """Call the cache, or give `default` when it is unreachable: a Redis outage makes pages
    slower (rendered every time), never a 500."""
    try:
        return getattr(cache, method)(*args)
    except Exception:  # noqa: BLE001 - any cache failure degrades to "not cached"
        logger.warning("Page cache unavailable (%s); serving uncached", method, exc_info=True)
        return default


def cache_seconds():
    return min(int(settings.PAGE_CACHE_SECONDS), MAX_SECONDS)


def _next_publication_timestamp():
    """When the next scheduled article goes live (None if none): the generation ends then."""
    from articles.models import Article

    first = (
        Article.objects.scheduled()
        .order_by("published_at")
        .values_list("published_at", flat=True)[:1]
    )
    return first[0].timestamp() if first else None


def _start_generation(now):
    next_publication = _next_publication_timestamp()
    lifetime = cache_seconds()
    if next_publication is not None:
        lifetime = min(lifetime, max(1, int(next_publication - now)))
    state = (uuid.uuid4().hex, next_publication, now + lifetime)
    _cache("set", GENERATION_KEY, state, lifetime)
    # Two processes may start one at once; announcing it makes every process read the one
    # stored last, instead of each keeping its own and overwriting the other's pages.
    _announce_new_generation()
    return state


def _is_state(state):
    # (id, next scheduled publication or None, end of life); anything else (a shape stored by
    # an earlier release) counts as no generation.
    return isinstance(state, tuple) and len(state) == 3


def _outlived(state, now):
    """Whether a generation has ended: its lifetime is over or a scheduled article is due."""
    return now >= state[2] or (state[1] is not None and state[1] <= now)


def _generation(state, now):
    """(generation id, seconds a page cached now may live), from the stored state if current."""
    if not _is_state(state) or _outlived(state, now):
        state = _start_generation(now)
    _, next_publication, end = state
    remaining = min(cache_seconds(), int(end - now))
    if next_publication is not None:
        remaining = min(remaining, int(next_publication - now))
    return state[0], max(remaining, 0)


def current_generation():
    state = _watch.stored_state()
    return _generation(None if state is _UNAVAILABLE else state, time.time())


def _announce_new_generation():
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return
    try:
        backend.redis().publish(backend.make_key(CHANGES_CHANNEL), "changed")
    except (redis.RedisError, OSError):
        logger.warning("Could not announce a new page cache generation", exc_info=True)


def _wait_for_delivery(client):
    """Return once Redis has written what it published to every subscriber's socket.

    Redis writes the replies and messages produced by one turn of its event loop before it reads
    the next command, so when a command sent after the PUBLISH's reply arrived is answered, the
    message is in every subscriber's socket buffer (with Redis on loopback, in the receiving
    process's buffer; across hosts, on the wire)."""
    client.ping()


def invalidate():
    """Forget every cached page (call after the change has committed).

    On Redis the generation is deleted and the change announced in one transaction, so no
    process can miss it, and the call returns only once every subscribed process can see the
    announcement: a reader whose request comes after staff saved gets the new page."""
    _watch.forget()
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        _cache("delete", GENERATION_KEY)
        return
    try:
        client = backend.redis()
        with client.pipeline(transaction=True) as pipe:
            pipe.delete(backend.make_key(GENERATION_KEY))
            pipe.publish(backend.make_key(CHANGES_CHANNEL), "changed")
            pipe.execute()
        _wait_for_delivery(client)
    except (redis.RedisError, OSError):
        logger.warning("Page cache unavailable (invalidate)", exc_info=True)


class _GenerationWatch:
    """This process's copy of the stored generation, kept current by Redis pub/sub.

    Reading the generation from Redis for every page served was a round trip per hit, a quarter
    of its cost (bench/articles_pages.py). Instead the process subscribes to CHANGES_CHANNEL,
    where every change of the generation is announced (`invalidate` also waits until Redis has
    delivered it), and keeps the state it last read. Each request looks at the subscription's
    socket without waiting; anything there means "read the generation again". A copy is also
    re-read when its generation has ended (its lifetime, a scheduled publication), and while
    the subscription has been quiet for a while and not yet answered a PING.

    Without a subscription (a cache other than Redis, Redis unreachable, the connection lost:
    messages may have been missed) every request reads the generation, as before, and a new
    subscription is tried at most every RETRY_SECONDS; the state is read afresh only once
    Redis has confirmed it, so nothing announced after that read can be missed.
    """

    RETRY_SECONDS = 5
    # A subscription not heard from for PING_SECONDS is pinged, and given up on when the answer
    # takes longer than PONG_SECONDS; meanwhile the generation is read per request.
    PING_SECONDS = 5
    PONG_SECONDS = 2

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        # After a fork the parent's connection and lock are not this process's to use.
        self.lock = threading.Lock()
        self.connection = None
        self.subscribed_to = None
        self.state = _UNKNOWN
        self.next_attempt = 0.0
        self.heard_at = 0.0
        self.ping_sent_at = None

    def stored_state(self):
        """The stored generation state (None if there is none), or _UNAVAILABLE."""
        backend = caches["default"]
        if not isinstance(backend, RedisCache) or not self.lock.acquire(blocking=False):
            return _cache("get", GENERATION_KEY, default=_UNAVAILABLE)
        try:
            identity = (backend.location, backend.make_key(CHANGES_CHANNEL))
            if self.connection is not None and self.subscribed_to != identity:
                self._unsubscribe()
            if self.connection is None:
                self._subscribe(backend, identity)
            elif self._announced():
                self.state = _UNKNOWN
            if self.connection is None:
                return _cache("get", GENERATION_KEY, default=_UNAVAILABLE)
            if not _is_state(self.state) or _outlived(self.state, time.time()):
                state = _cache("get", GENERATION_KEY, default=_UNAVAILABLE)
                self.state = _UNKNOWN if state is _UNAVAILABLE else state
                return state
            return self.state
        finally:
            self.lock.release()

    def forget(self):
        """Read the generation again next time (this process has just changed it)."""
        with self.lock:
            self.state = _UNKNOWN

    def _subscribe(self, backend, identity):
        now = time.monotonic()
        if now < self.next_attempt:
            return
        self.next_attempt = now + self.RETRY_SECONDS
        pool = backend.redis().connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)
        try:
            connection.connect()
            connection.send_command("SUBSCRIBE", identity[1])
            connection.read_response(push_request=True)  # the confirmation: from here on, we hear
        except (redis.RedisError, OSError):
            logger.warning("Page cache changes: cannot subscribe", exc_info=True)
            connection.disconnect()
            return
        self.connection, self.subscribed_to, self.state = connection, identity, _UNKNOWN
        self.heard_at, self.ping_sent_at = time.monotonic(), None

    def _announced(self):
        """Whether the copy must be read again, found without waiting: something was announced,
        the subscription is lost, or it has not been heard from lately. A connection can die
        without a sound (a firewall or NAT forgetting an idle connection), so a quiet one is
        sent a PING and trusted again only once it answers."""
        now = time.monotonic()
        announced = False
        try:
            # Checked first because can_read would quietly reconnect, unsubscribed.
            if not self.connection.is_connected:
                raise redis.ConnectionError("the subscription's connection is closed")
            while self.connection.can_read(timeout=0):
                reply = self.connection.read_response(push_request=True)
                self.heard_at = now
                if _is_pong(reply):
                    self.ping_sent_at = None
                else:
                    announced = True
            if now - self.heard_at <= self.PING_SECONDS:
                return announced
            if self.ping_sent_at is None:
                self.connection.send_command("PING")
                self.ping_sent_at = now
            elif now - self.ping_sent_at > self.PONG_SECONDS:
                raise redis.TimeoutError("the subscription did not answer a PING")
        except (redis.RedisError, OSError):
            logger.warning("Page cache changes: subscription lost", exc_info=True)
            self._unsubscribe()
        return True

    def _unsubscribe(self):
        connection, self.connection, self.subscribed_to = self.connection, None, None
        self.state = _UNKNOWN
        connection.disconnect()


def _is_pong(reply):
    # A subscribed connection answers PING with ["pong", ""] (RESP2) or PONG (RESP3).
    if isinstance(reply, list) and reply:
        reply = reply[0]
    if isinstance(reply, bytes):
        reply = reply.decode(errors="replace")
    return isinstance(reply, str) and reply.lower() == "pong"


_watch = _GenerationWatch()


def forget_local_copies():
    """Drop this process's copies of pages, fragments and the generation: for tests that wipe
    the shared cache behind the page cache's back."""
    _watch.forget()
    with _copies.lock:
        _copies.entries.clear()


def cached_fragments(builders):
    """Pieces of a page shared by every visitor (signed-in ones too), kept for one generation.

    `builders` maps a fragment name to a function returning its rendered string; a function runs
    only when the current generation has no copy. Copies this process already holds cost
    nothing more; the others are fetched in one round trip.
    """
    if cache_seconds() <= 0:
        return {name: build() for name, build in builders.items()}
    state = _watch.stored_state()
    if state is _UNAVAILABLE:
        return {name: build() for name, build in builders.items()}
    generation, remaining = _generation(state, time.time())
    keys = {name: f"pagecache:fragment:{name}" for name in builders}
    fragments = {name: _copies.get(key, generation) for name, key in keys.items()}
    missing = {name: keys[name] for name, html in fragments.items() if html is None}
    if missing:
        shared = _cache("get_many", list(missing.values())) or {}
        fresh = {}
        for name, key in missing.items():
            entry = shared.get(key)
            if entry is not None and entry[0] == generation:
                fragments[name] = entry[1]
            else:
                fragments[name] = builders[name]()
                fresh[key] = (generation, fragments[name])
            _copies.put(key, generation, fragments[name])
        if fresh and remaining > 0:
            _cache("set_many", fresh, remaining)
    return fragments


def _find_page(key):
    """(generation, seconds a page stored now may live, current entry or None) for `key`, or
    None when the cache is unreachable. The page comes from this process's copy when that
    belongs to the current generation, which `_watch` keeps current in every process."""
    state = _watch.stored_state()
    if state is _UNAVAILABLE:
        return None
    generation, remaining = _generation(state, time.time())
    entry = _copies.get(key, generation)
    if entry is not None:
        return generation, remaining, entry
    entry = _cache("get", key)
    if entry is None or entry["generation"] != generation:
        return generation, remaining, None
    _copies.put(key, generation, entry)
    return generation, remaining, entry


def _cookie_less_reader(request):
    """A GET from a visitor with no session: not signed in, no pending messages (which live in
    the session or their own cookie). Checked without loading anything."""
    return (
        request.method in ("GET", "HEAD")
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and CookieStorage.cookie_name not in request.COOKIES
        and cache_seconds() > 0
    )


class PageCacheMiddleware:
    """Serve page-cache hits to cookie-less readers before the rest of the stack runs.

    Sits after the CSRF middleware (which sends the token cookie a served page needs) and the
    attribution middleware (an article is often where a campaign visitor lands), before
    authentication and messages. A miss goes on to the view, which renders and stores the page;
    the lookup is handed on, so a miss costs no second round trip. Other pages are not looked
    up at all (see `_public_page_vary_on`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _cookie_less_reader(request):
            vary_on = _public_page_vary_on(request)
            key = _page_key(request, vary_on) if vary_on is not None else None
            found = _find_page(key) if key else None
            if found is not None:
                if found[2] is not None:
                    response = _serve(found[2], request)
                    patch_vary_headers(response, ["Cookie"])
                    return response
                request._page_cache_lookup = (key, found)
        return self.get_response(request)


def _public_page_vary_on(request):
    """The `vary_on` of the cache_public_page view this request goes to, or None for any other
    view: only those pages are looked up, so other pages pay nothing for the cache."""
    return _vary_on_for_path(request.path_info, getattr(request, "urlconf", None))


# Resolving the URL was a tenth of a hit's cost. The answer depends only on the path and the
# URLconf; bounded, because paths are whatever visitors and crawlers send.
@functools.lru_cache(maxsize=4096)
def _vary_on_for_path(path_info, urlconf):
    try:
        match = resolve(path_info, urlconf)
    except Resolver404:
        return None
    # functools.wraps carries the mark out through decorators such as require_safe.
    return getattr(match.func, "page_cache_vary_on", None)


@receiver(setting_changed)
def _urlconf_changed(*, setting, **kwargs):
    if setting == "ROOT_URLCONF":
        _vary_on_for_path.cache_clear()


def _cacheable_request(request):
    if request.method not in ("GET", "HEAD") or cache_seconds() <= 0:
        return False
    if request.user.is_authenticated:
        return False
    # len() looks at pending messages without marking them read.
    return len(get_messages(request)) == 0


def _page_key(request, vary_on):
    """The cache key, or None when the query string holds something the key does not cover.

    Only the parameters a page depends on make up the key; tracking parameters are ignored
    (the page is the same), and any other parameter (a search, a typo, a cache-buster) skips
    the cache rather than filling it with one-off pages.
    """
    kept = []
    for name, values in sorted(request.GET.lists()):
        if name in vary_on:
            kept += [(name, value) for value in values]
        elif not (name in IGNORED_PARAMS or name.startswith("utm_")):
            return None
    identity = f"{request.path}?{urlencode(kept)}"
    return f"pagecache:page:{hashlib.sha256(identity.encode()).hexdigest()}"


def visitor_csrf_token(request):
    """This visitor's CSRF token, to put in place of CSRF_PLACEHOLDER (also sets the cookie)."""
    return get_token(request)


def with_visitor_csrf(html, request):
    """A fragment rendered with CSRF_PLACEHOLDER as its token, made valid for this visitor."""
    return html.replace(CSRF_PLACEHOLDER, visitor_csrf_token(request))


def _serve(entry, request):
    content = entry["content"].replace(CSRF_PLACEHOLDER.encode(), get_token(request).encode())
    response = HttpResponse(content, content_type=entry["content_type"])
    for header, value in entry["headers"]:
        response[header] = value
    response["X-Page-Cache"] = "hit"
    return response


def cache_public_page(view=None, *, vary_on=("page",)):
    """Decorate a view whose anonymous GET response is the same for every visitor.

    `vary_on` names the query parameters the page depends on (default: the page number).
    """
    if view is None:
        return lambda view: cache_public_page(view, vary_on=vary_on)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        key = _page_key(request, vary_on) if _cacheable_request(request) else None
        if key is None:
            return view(request, *args, **kwargs)
        handed_on = getattr(request, "_page_cache_lookup", None)
        found = handed_on[1] if handed_on and handed_on[0] == key else _find_page(key)
        if found is None:
            return view(request, *args, **kwargs)
        generation, remaining, entry = found
        if entry is not None:
            response = _serve(entry, request)
        else:
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and callable(response.render):
                response = response.render()
            if (
                response.status_code == 200
                and not response.streaming
                and not response.cookies
                and remaining > 0
                and "no-cache" not in response.get("Cache-Control", "")
            ):
                content = _CSRF_INPUT.sub(
                    rb"\g<1>" + CSRF_PLACEHOLDER.encode() + rb"\g<2>", response.content
                )
                headers = [
                    (name, value)
                    for name, value in response.items()
                    if name.lower() in {"last-modified", "content-language", "link", "x-robots-tag"}
                ]
                entry = {
                    "generation": generation,
                    "content": content,
                    "content_type": response["Content-Type"],
                    "headers": headers,
                }
                _cache("set", key, entry, remaining)
                _copies.put(key, generation, entry)
                response["X-Page-Cache"] = "miss"
        # The page differs for signed-in visitors, so shared caches must not mix them up.
        patch_vary_headers(response, ["Cookie"])
        return response

    wrapper.page_cache_vary_on = tuple(vary_on)
    return wrapper
