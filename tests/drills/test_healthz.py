"""`/healthz`: what a load balancer sees when the database, cache or broker is up or down."""

import socket
import threading

import pytest
from django.urls import reverse

from tests.drills.helpers import point_redis_at

pytestmark = pytest.mark.django_db


def test_all_ok_answers_200_with_each_check_timed(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert check["latency_ms"] >= 0


def test_without_a_broker_the_check_says_tasks_run_inline(client, settings):
    """The embedded default: nothing to ping, and saying so beats pretending to."""
    settings.CELERY_BROKER_URL = ""

    broker = client.get("/healthz").json()["checks"]["broker"]

    assert broker["status"] == "ok"
    assert broker["detail"] == "inline (no broker configured)"


def test_never_cached_and_only_for_reading(client):
    response = client.get(reverse("healthz"))
    assert "no-cache" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]
    assert client.post("/healthz").status_code == 405


def test_redis_down_answers_503_naming_cache_and_broker(client, settings):
    """Cache and broker pointed at a closed port: both reported as errors, the database still ok."""
    point_redis_at(settings)

    response = client.get("/healthz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["cache"]["status"] == "error"
    assert checks["broker"]["status"] == "error"
    assert "Connection" in checks["cache"]["error"]


def test_redis_that_accepts_but_never_answers_still_gives_an_answer(client, settings):
    """A hung Redis (accepts the connection, never replies) is cut off by the socket timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []

    def accept_forever():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept_forever, daemon=True).start()
    point_redis_at(settings, f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    try:
        response = client.get("/healthz")
    finally:
        listener.close()
        for conn in accepted:
            conn.close()

    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["status"] == "error"


def test_database_failure_answers_503(client, monkeypatch):
    from django.db import OperationalError

    from skilldacity import health

    def broken():
        raise OperationalError("server closed the connection")

    monkeypatch.setitem(health.CHECKS, "database", broken)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "error"


def test_exempt_from_the_ssl_redirect_in_production(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301
