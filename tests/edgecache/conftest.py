import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from skilldacity.outbox import services as outbox_services


class FakeEdge:
    """A local HTTP server standing in for a CDN API or a Varnish: records every request and
    answers with `status` (and the body a Cloudflare API would send)."""

    def __init__(self):
        self.requests = []
        self.status = 200
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                edge.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(body) if body else None,
                    }
                )
                answer = json.dumps({"success": edge.status == 200, "errors": []}).encode()
                self.send_response(edge.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_POST = do_PURGE = do_GET = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_edge():
    edge = FakeEdge()
    yield edge
    edge.close()


@pytest.fixture
def cloudflare(fake_edge, settings):
    settings.EDGE_CACHE_BACKENDS = {
        "cloudflare": {
            "BACKEND": "skilldacity.edgecache.backends.CloudflareBackend",
            "API_URL": fake_edge.url + "/client/v4",
            "ZONE_ID": "zone123",
            "API_TOKEN": "token-abc",
        }
    }
    return fake_edge


@pytest.fixture(autouse=True)
def _publish_not_paused(monkeypatch):
    monkeypatch.setattr(outbox_services, "_publish_paused_until", 0.0)
