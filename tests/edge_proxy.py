"""The reference nginx (deploy/nginx/) in front of pytest-django's live server, for the
integration and browser tests. Purges go to it from this process (tasks run inline)."""

import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from django.core.signals import request_started

from deploy.nginx.proxy import NginxProxy
from deploy.varnish.proxy import VarnishProxy
from tests.conftest import free_port


class OriginRequests:
    """Requests that reached Django (the live server runs in this process)."""

    def __init__(self):
        self.paths = []
        self.lock = threading.Lock()

    def __call__(self, sender, environ, **kwargs):
        with self.lock:
            self.paths.append(environ.get("PATH_INFO", ""))

    def count(self, path):
        return self.paths.count(path)


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.text = status, headers, body.decode(errors="replace")

    @property
    def cache(self):
        return self.headers.get("X-Cache-Status")


def _serve(proxy, settings):
    settings.EDGE_CACHE_BACKENDS = proxy.backend_settings()
    origin_requests = OriginRequests()
    request_started.connect(origin_requests, weak=False)
    proxy.origin_requests = origin_requests

    def get(path, headers=None):
        request = urllib.request.Request(proxy.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.headers, exc.read())

    proxy.get = get
    return origin_requests


@pytest.fixture
def edge_proxy(live_server, settings, tmp_path):
    """The reference nginx, purged by this process."""
    origin = urlsplit(live_server.url)
    proxy = NginxProxy(
        listen=f"127.0.0.1:{free_port()}",
        upstream=f"127.0.0.1:{origin.port}",
        workdir=tmp_path / "proxy",
        workers=1,
    )
    proxy.start()
    origin_requests = _serve(proxy, settings)
    yield proxy
    request_started.disconnect(origin_requests)
    proxy.stop()


@pytest.fixture
def varnish_proxy(live_server, settings, tmp_path):
    """The reference Varnish (xkey purges), purged by this process."""
    origin = urlsplit(live_server.url)
    proxy = VarnishProxy(
        listen=f"127.0.0.1:{free_port()}",
        upstream=f"127.0.0.1:{origin.port}",
        workdir=tmp_path / "varnish",
    )
    proxy.start()
    origin_requests = _serve(proxy, settings)
    yield proxy
    request_started.disconnect(origin_requests)
    proxy.stop()
