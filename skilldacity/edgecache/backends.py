"""Edge cache backends, configured like `wagtail.contrib.frontend_cache`:

    EDGE_CACHE_BACKENDS = {
        "nginx": {"BACKEND": "skilldacity.edgecache.backends.NginxGenerationBackend",
                  "GENERATION_FILE": "/run/skd-proxy/generation.conf",
                  "PID_FILE": "/run/skd-proxy/nginx.pid"},
        "varnish": {"BACKEND": "skilldacity.edgecache.backends.VarnishXkeyBackend",
                    "LOCATION": "http://127.0.0.1:6081"},
        "cloudflare": {"BACKEND": "skilldacity.edgecache.backends.CloudflareBackend",
                       "ZONE_ID": "...", "API_TOKEN": "..."},
    }

Every backend's `purge(keys)` takes surrogate keys (the `Surrogate-Key` vocabulary: site,
article-<pk>, list, category-<pk>, tag-<pk>, feed, sitemap) and raises on any failure, so that the
outbox retries it. Purges are idempotent: purging twice is only wasted work.
"""

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

TIMEOUT_SECONDS = 5


class PurgeError(Exception):
    pass


def get_backends():
    backends = {}
    for name, params in settings.EDGE_CACHE_BACKENDS.items():
        params = dict(params)
        try:
            backend_class = import_string(params.pop("BACKEND"))
        except (KeyError, ImportError) as exc:
            raise ImproperlyConfigured(f"EDGE_CACHE_BACKENDS[{name!r}]: {exc}") from exc
        backends[name] = backend_class(params)
    return backends


def http(method, url, *, headers=None, body=None):
    """One request, bounded in time; returns (status, body bytes) for any answer."""
    if not url.startswith(("http://", "https://")):
        raise PurgeError(f"not an HTTP address: {url}")
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class BaseBackend:
    def __init__(self, params):
        self.params = params

    def purge(self, keys):
        raise NotImplementedError


class NginxGenerationBackend(BaseBackend):
    """nginx by cache key generation (deploy/nginx/): the cache key includes a generation number
    read from an included file; a purge writes a new one and reloads nginx, so every page cached
    before is never served again (and ages out of the disk by `inactive=`).

    Why not ngx_cache_purge: Debian's module (2.3) deletes one exact cache key at a time, with no
    wildcard and no surrogate keys, and a change to a live article is on every list page, every
    page number, every feed and (Recent Articles) every other article page: those URLs cannot be
    listed. Publishing is rare, so starting the whole cache over is cheap and always correct.

    The purge returns once every worker process of the old configuration has exited: until then
    a reader's new connection may still land on one of them and get the old page. If nginx
    rejects the new configuration, its old workers stay and the purge fails (and is retried).
    Runs where nginx runs: it signals nginx's master process (PID_FILE).
    """

    def purge(self, keys):
        try:
            master = int(Path(self.params["PID_FILE"]).read_text().strip())
            old_workers = self._workers(master)
        except (OSError, ValueError) as exc:
            raise PurgeError(f"cannot find nginx: {exc}") from exc
        path = Path(self.params["GENERATION_FILE"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f'set $edge_generation "{time.time_ns()}";\n')
        os.replace(tmp, path)
        try:
            os.kill(master, signal.SIGHUP)
        except OSError as exc:
            raise PurgeError(f"cannot reload nginx: {exc}") from exc
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while old_workers & self._workers(master):
            if time.monotonic() > deadline:
                raise PurgeError("nginx kept its old workers: is the new configuration valid?")
            time.sleep(0.005)

    @staticmethod
    def _workers(master):
        return set(Path(f"/proc/{master}/task/{master}/children").read_text().split())


class VarnishXkeyBackend(BaseBackend):
    """Varnish with the xkey vmod (Debian's varnish-modules, deploy/varnish/default.vcl): one
    PURGE request carrying the keys; the VCL answers 200 with the number of objects purged."""

    def purge(self, keys):
        status, body = http(
            "PURGE",
            self.params["LOCATION"].rstrip("/") + "/",
            headers={"xkey-purge": " ".join(keys)},
        )
        if status != 200:
            raise PurgeError(f"Varnish answered {status}: {body[:200]!r}")


class CloudflareBackend(BaseBackend):
    """Cloudflare's purge by Cache-Tag (the origin copies Surrogate-Key into Cache-Tag,
    skilldacity.edgecache.middleware), 30 tags a call as the API allows."""

    API_URL = "https://api.cloudflare.com/client/v4"
    TAGS_PER_CALL = 30

    def purge(self, keys):
        api = self.params.get("API_URL", self.API_URL).rstrip("/")
        url = f"{api}/zones/{self.params['ZONE_ID']}/purge_cache"
        headers = {
            "Authorization": f"Bearer {self.params['API_TOKEN']}",
            "Content-Type": "application/json",
        }
        keys = list(keys)
        for start in range(0, len(keys), self.TAGS_PER_CALL):
            body = json.dumps({"tags": keys[start : start + self.TAGS_PER_CALL]}).encode()
            status, answer = http("POST", url, headers=headers, body=body)
            try:
                success = status == 200 and json.loads(answer).get("success") is True
            except ValueError:
                success = False
            if not success:
                raise PurgeError(f"Cloudflare answered {status}: {answer[:300]!r}")
