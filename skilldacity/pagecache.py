"""The parts of public pages every visitor shares, rendered once per cache generation.

Anonymous readers are served by the HTTP cache in front (see skilldacity.httpcache); what reaches
the application is a miss after a purge, a signed-in reader, or `make run` without a proxy. An
article page built from the database is dominated by rendering its forms' widgets (about 100 times
the cost of the same page from fragments, measured in-process), so its pieces are kept in the
Django cache (articles/fragments.py, newsletter's footer form).

Every fragment records the "generation" it belongs to: any change to the content (`invalidate`)
starts a new one, so older fragments stop being used, and a generation never outlives the next
scheduled publication, so a scheduled article appears on time. Fragments carry nothing about the
visitor (forms on them have no CSRF token: see skilldacity/formtokens.py).

Settings: PAGE_CACHE_SECONDS (default 600, at most 3600; 0 turns fragments off, and makes no page
public).
"""

import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

GENERATION_KEY = "pagecache:generation"
MAX_SECONDS = 3600
_UNAVAILABLE = object()


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
    return state


def _current_state(now):
    """(id, next scheduled publication or None, end of life), or None when the cache is down."""
    state = _cache("get", GENERATION_KEY, default=_UNAVAILABLE)
    if state is _UNAVAILABLE:
        return None
    # Anything but a current 3-tuple (none, ended, a shape stored by an earlier release) starts
    # a new generation.
    if (
        not isinstance(state, tuple)
        or len(state) != 3
        or now >= state[2]
        or (state[1] is not None and state[1] <= now)
    ):
        state = _start_generation(now)
    return state


def current_generation():
    """(generation id, seconds a fragment cached now may live), or (None, 0) with no cache."""
    now = time.time()
    state = _current_state(now)
    if state is None:
        return None, 0
    _, next_publication, end = state
    remaining = min(cache_seconds(), int(end - now))
    if next_publication is not None:
        remaining = min(remaining, int(next_publication - now))
    return state[0], max(remaining, 0)


def next_publication():
    """When the next scheduled article goes live (a timestamp), or None; from the generation,
    so it costs no query. With the cache down, asked of the database."""
    state = _current_state(time.time())
    return _next_publication_timestamp() if state is None else state[1]


def invalidate():
    """Forget every cached fragment (call after the change has committed)."""
    _cache("delete", GENERATION_KEY)


def cached_fragments(builders):
    """Pieces of a page shared by every visitor (signed-in ones too), kept for one generation.

    `builders` maps a fragment name to a function returning its rendered string; a function runs
    only when the current generation has no copy. All are fetched in one round trip.
    """
    generation, remaining = current_generation() if cache_seconds() > 0 else (None, 0)
    if generation is None:
        return {name: build() for name, build in builders.items()}
    keys = {name: f"pagecache:fragment:{name}" for name in builders}
    stored = _cache("get_many", list(keys.values())) or {}
    fragments, fresh = {}, {}
    for name, key in keys.items():
        entry = stored.get(key)
        if entry is not None and entry[0] == generation:
            fragments[name] = entry[1]
        else:
            fragments[name] = builders[name]()
            fresh[key] = (generation, fragments[name])
    if fresh and remaining > 0:
        _cache("set_many", fresh, remaining)
    return fragments
