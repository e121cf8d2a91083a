"""Shared test harness.

Three suites, selected by path: unit tests (default, SQLite and inline tasks are fine),
tests/integration/ (PostgreSQL, Redis, a real Celery worker, a real SMTP server; `--integration`)
and tests/e2e/ (Chromium through Playwright; `--e2e`). `make test` runs all that the machine can.
"""

import asyncio
import email
import email.policy
import os
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller


def pytest_addoption(parser):
    parser.addoption(
        "--integration",
        action="store_true",
        help="run tests/integration against PostgreSQL, Redis, a Celery worker and aiosmtpd",
    )
    parser.addoption("--e2e", action="store_true", help="run tests/e2e in Chromium")


def pytest_configure(config):
    """Under pytest-xdist each worker keeps its cache keys apart from the others'. Passwords are
    hashed with a fast hasher: production's PBKDF2 costs about a second per sign-up or sign-in on
    these machines, which was most of the suite's time, and the hasher's cost is not under test
    (the production settings are checked in tests/security/test_production_mode.py)."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        cache = settings.CACHES["default"]
        cache["KEY_PREFIX"] = f"{cache.get('KEY_PREFIX', '')}-{worker}"


def pytest_collection_modifyitems(config, items):
    wanted = {"integration": config.getoption("--integration"), "e2e": config.getoption("--e2e")}
    for item in items:
        path = str(item.path)
        for suite in ("integration", "e2e"):
            if f"/tests/{suite}/" in path:
                item.add_marker(getattr(pytest.mark, suite))
                if not wanted[suite]:
                    why = f"{suite} suite: run with --{suite} (make test does)"
                    item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and page caches live in the cache, catalogue rows in each process; every test
    starts with nothing remembered (SQLite hands out a rolled-back test's ids again)."""
    from django.core.cache import caches

    from skilldacity.cache import RedisCache
    from skilldacity.recentrows import RecentRows

    RecentRows.forget_everything()
    # caches["default"], not django.core.cache.cache: that is a proxy, never an instance of the
    # backend, so this branch was never taken and every test ran FLUSHDB on the broker's database.
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # Only our own keys: FLUSHDB would also drop the broker's queued tasks and another
        # xdist worker's keys when they share the Redis database.
        client = cache.redis()
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
    yield


@pytest.fixture(autouse=True)
def _tasks_inline(settings):
    """Unit tests run Celery tasks inline even when a broker is configured; the integration tests
    that want the real broker and worker ask for `live_broker`, which turns this off."""
    from skilldacity.celery import app

    previous = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What a real SMTP server received. `mode` makes it accept, defer (4xx) or refuse (5xx)."""

    def __init__(self):
        self.messages = []
        self.mode = "accept"
        self.delay = 0.0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "defer":
            return "451 4.3.0 Try again later"
        if self.mode == "refuse":
            return "550 5.1.1 Mailbox unavailable"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def clear(self):
        with self._lock:
            self.messages.clear()
        self.mode, self.delay = "accept", 0.0

    def to(self, address):
        with self._lock:
            return [m for m in self.messages if address in m.get("To", "")]

    def wait_for(self, count, timeout=20.0, predicate=None):
        """Wait until at least `count` messages (matching predicate) arrived; return them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [m for m in self.messages if predicate is None or predicate(m)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


class SMTPServer:
    def __init__(self):
        self.inbox = Inbox()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="session")
def smtp_server_session():
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(smtp_server_session, settings):
    """A real SMTP server (aiosmtpd) on loopback, with Django's SMTP backend pointed at it."""
    server = smtp_server_session
    if server.controller is None:
        server.start()
    server.inbox.clear()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    if server.controller is None:
        server.start()
