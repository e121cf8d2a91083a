"""Every URL the site answers, each with a concrete sample path, from the URL conf itself.

The security tests and the drills walk this instead of a hand-kept list, so a view added by any app
is covered the day it is merged. Converters get sample values (`<int:pk>` -> 1, `<slug:slug>` ->
sample); regex patterns (the admin's) get the simplest string hypothesis can find that matches
and resolves back to the same view.
"""

import re
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.converters import (
    IntConverter,
    PathConverter,
    SlugConverter,
    StringConverter,
    UUIDConverter,
)
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern

CONVERTER_SAMPLES = {
    IntConverter: "1",
    StringConverter: "sample",
    SlugConverter: "sample",
    PathConverter: "sample/path",
    UUIDConverter: str(uuid.UUID(int=1)),
}
_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")


@dataclass(frozen=True)
class Route:
    path: str  # a concrete path that resolves to the view, e.g. /news/sample/
    pattern: str  # the joined patterns, e.g. news/<slug:slug>/
    name: str  # namespaced URL name, e.g. articles:detail ("" when unnamed)
    callback: object
    has_arguments: bool

    @property
    def view_path(self):
        """Dotted path of the view function, for allow-lists that must not match by URL."""
        func = getattr(self.callback, "view_class", None) or self.callback
        # Feed and sitemap views are instances, not functions: name them by their class.
        name = getattr(func, "__qualname__", None) or type(func).__qualname__
        return f"{func.__module__}.{name}"


def _simplest_match(regex, condition=lambda text: True):
    from hypothesis import find, settings
    from hypothesis import strategies as st

    return find(
        st.from_regex(regex, fullmatch=True),
        condition,
        settings=settings(database=None, max_examples=2000),
    )


def _route_sample(pattern):
    def substitute(match):
        converter = pattern.converters[match["parameter"]]
        sample = CONVERTER_SAMPLES.get(type(converter))
        return sample if sample is not None else _simplest_match(converter.regex)

    return _ROUTE_PARAM.sub(substitute, str(pattern)), bool(pattern.converters)


def _regex_sample(pattern, condition=None):
    regex = pattern.regex.pattern
    has_groups = pattern.regex.groups > 0
    if not has_groups and not re.search(r"[\\\[\](){}*+?|.]", regex.strip("^$")):
        return regex.strip("^$"), False
    if condition is None:
        return _simplest_match(
            regex.rstrip("$") + "$" if pattern._is_endpoint else regex
        ), has_groups
    return _simplest_match(regex, condition), has_groups


def _sample(pattern, condition=None):
    if isinstance(pattern, RoutePattern):
        return _route_sample(pattern)
    if isinstance(pattern, RegexPattern):
        return _regex_sample(pattern, condition)
    return str(pattern), False  # LocalePrefixPattern and the like


def _resolves_to(path, callback):
    try:
        return resolve(path).func == callback
    except Resolver404:
        return False


def walk(resolver=None, prefix="", namespace="", has_arguments=False):
    """All leaf routes under `resolver` (default: the root URL conf), depth first."""
    resolver = resolver or get_resolver()
    routes = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            segment, args = _sample(entry.pattern)
            child_namespace = (
                f"{namespace}:{entry.namespace}".strip(":") if entry.namespace else namespace
            )
            routes += walk(entry, prefix + segment, child_namespace, has_arguments or args)
        elif isinstance(entry, URLPattern):
            segment, args = _sample(entry.pattern)
            path = "/" + prefix + segment
            if not _resolves_to(path, entry.callback) and isinstance(entry.pattern, RegexPattern):
                # An earlier pattern wins for the simplest string (the admin's catch-all matches
                # "" too): look for one that reaches this view instead.
                segment, args = _sample(
                    entry.pattern,
                    lambda text, entry=entry: _resolves_to("/" + prefix + text, entry.callback),
                )
                path = "/" + prefix + segment
            name = f"{namespace}:{entry.name}".strip(":") if entry.name else ""
            routes.append(
                Route(
                    path, prefix + str(entry.pattern), name, entry.callback, has_arguments or args
                )
            )
    return routes


def public_pages(routes=None):
    """Paths a visitor can open without arguments: not the admin, not account management."""
    routes = walk() if routes is None else routes
    return [
        route.path
        for route in routes
        if not route.has_arguments and not route.path.startswith(("/admin/", "/accounts/"))
    ]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            self.hrefs.append(href)


def html_pages(get, routes=None, start=()):
    """Every HTML page a visitor reaches: the walker's public pages (and the public account pages:
    sign-in, sign-up, password reset), then one page per route found by following their links, so
    views that take arguments (an article, a category, a tag) are covered with real objects.

    `get(path)` returns (status, content type, body). Returns {path: body} of the 200 HTML pages.
    """
    routes = walk() if routes is None else routes
    queue = list(start) + [
        route.path
        for route in routes
        if not route.has_arguments and not route.path.startswith("/admin/")
    ]
    seen_paths, seen_views, pages = set(), set(), {}
    while queue:
        path = queue.pop(0)
        if path in seen_paths:
            continue
        seen_paths.add(path)
        status, content_type, body = get(path)
        if status != 200 or not content_type.startswith("text/html"):
            continue
        pages[path] = body
        parser = _Links()
        parser.feed(body)
        for href in parser.hrefs:
            url = urlsplit(href)
            if url.scheme or url.netloc or not url.path.startswith("/"):
                continue
            try:
                match = resolve(url.path)
            except Resolver404:
                continue
            view = (match.func, match.url_name)
            if view not in seen_views and not url.path.startswith("/admin/"):
                seen_views.add(view)
                queue.append(url.path)
    return pages


def client_pages(client, start=()):
    """html_pages() through a Django test client (anonymous unless the client is signed in)."""

    def get(path):
        response = client.get(path)
        content_type = response.get("Content-Type", "")
        body = response.content.decode() if content_type.startswith("text/html") else ""
        return response.status_code, content_type, body

    return html_pages(get, start=start)
