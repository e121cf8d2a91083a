"""Real services: PostgreSQL, Redis, a Celery worker process and an SMTP server.

Under --integration an unreachable service is an error, never a skip. Tests that involve the worker
use the `transactional_db` fixture, because the worker can only see committed rows.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _require_real_services(request):
    if not request.config.getoption("--integration"):
        return
    engine = django_settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.fail("--integration needs DATABASE_URL pointing at PostgreSQL, got " + engine)
    if not django_settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.fail("--integration needs REDIS_URL / CELERY_BROKER_URL pointing at Redis")
    import redis

    try:
        redis.Redis.from_url(django_settings.CELERY_BROKER_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis unreachable at {django_settings.CELERY_BROKER_URL}: {exc}")


def database_url_for_tests():
    """The URL of the test database pytest-django created, for processes we start."""
    from django.db import connection

    params = connection.settings_dict
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{params['NAME']}"


class WorkerProcess:
    """A real `celery worker` subprocess on the test database, the test broker queue and SMTP."""

    def __init__(
        self, smtp_server, concurrency=1, pool="solo", extra_env=None, name="w1", beat=False
    ):
        self.smtp_server = smtp_server
        self.concurrency = concurrency
        self.pool = pool
        self.extra_env = extra_env or {}
        self.name = name
        self.beat = beat
        self.process = None
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        self.log_path = tmp / f"skd-worker-{os.getpid()}-{name}.log"
        self.schedule_path = tmp / f"skd-beat-{os.getpid()}-{name}"
        self.log_path.unlink(missing_ok=True)

    def env(self):
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": database_url_for_tests(),
                "DB_CONN_MAX_AGE": "0",
                "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
                "REDIS_URL": os.environ.get("REDIS_URL", django_settings.CELERY_BROKER_URL),
                "CELERY_QUEUE": django_settings.CELERY_TASK_DEFAULT_QUEUE,
                "EMAIL_HOST": self.smtp_server.host,
                "EMAIL_PORT": str(self.smtp_server.port),
                "EMAIL_TIMEOUT": "5",
                "SITE_URL": django_settings.SITE_URL,
            }
        )
        env.update(self.extra_env)
        return env

    def start(self):
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "skilldacity",
                "worker",
                "--loglevel=INFO",
                f"--pool={self.pool}",
                f"--concurrency={self.concurrency}",
                "-Q",
                django_settings.CELERY_TASK_DEFAULT_QUEUE,
                "-n",
                f"{self.name}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *(["--beat", f"--schedule={self.schedule_path}"] if self.beat else []),
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so that kill() takes the pool children and beat with it.
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{self.log()}")
            if "ready." in self.log():
                return
            time.sleep(0.1)
        raise RuntimeError(f"Celery worker not ready after {timeout}s:\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self):
        """SIGKILL, as a crashed machine or the OOM killer would, children and beat included."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process:
            # Pool children and an embedded beat outlive a main process that died on its own.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.schedule_path.unlink(missing_ok=True)


@pytest.fixture
def celery_worker_factory(smtp_server, transactional_db):
    """Start real worker processes: `celery_worker_factory(concurrency=1, name="w1")`."""
    workers = []

    def start(**kwargs):
        worker = WorkerProcess(smtp_server, **kwargs).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    _purge_test_queue(workers)


def _purge_test_queue(workers):
    """Tasks left behind (countdown retries, a killed worker's unacked task) would otherwise be
    picked up by the next test's worker; their rows are gone, so they would only add noise."""
    from skilldacity.celery import app

    for url in {w.env()["CELERY_BROKER_URL"] for w in workers}:
        try:
            with app.connection_for_write(url) as conn:
                conn.default_channel.queue_purge(django_settings.CELERY_TASK_DEFAULT_QUEUE)
        except Exception:  # noqa: BLE001, S110 - the broker of an outage test may be gone
            pass


@pytest.fixture
def celery_worker(celery_worker_factory):
    return celery_worker_factory()


@pytest.fixture
def live_broker(settings):
    """Publish tasks to the real broker instead of running them inline."""
    from skilldacity.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield app
    app.conf.task_always_eager = previous


# --- Outbox fault drills ---------------------------------------------------------------------

# Seconds, not minutes: retries, sweeps and grace periods shrunk so the drills run fast.
FAST_OUTBOX_ENV = {
    "OUTBOX_BACKOFF_BASE_SECONDS": "0.3",
    "OUTBOX_BACKOFF_MAX_SECONDS": "1.5",
    "OUTBOX_SWEEP_INTERVAL_SECONDS": "1",
    "OUTBOX_SWEEP_GRACE_SECONDS": "2",
    "OUTBOX_MAX_ATTEMPTS": "30",
}


@pytest.fixture
def fast_outbox(settings):
    """The same short timings in this process (for sweeps the test runs itself)."""
    for name, value in FAST_OUTBOX_ENV.items():
        setattr(settings, name, float(value))
    return FAST_OUTBOX_ENV


@pytest.fixture
def smtp_data_started(smtp_server, monkeypatch):
    """An Event set when the SMTP server has the whole message and is about to answer DATA."""
    started = threading.Event()
    original = smtp_server.inbox.handle_DATA

    async def handle_data(server, session, envelope):
        started.set()
        return await original(server, session, envelope)

    monkeypatch.setattr(smtp_server.inbox, "handle_DATA", handle_data)
    return started


class ThrowawayRedis:
    """A private redis-server to break: stop it, freeze it, or replace it with a black hole.

    Never the shared Redis: these outages would hit everyone else's tests."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self._black_hole = []

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        """Gone: connections are refused at once."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def freeze(self):
        """Hung: the kernel still accepts connections, nothing ever answers (read timeouts)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.process.send_signal(signal.SIGCONT)

    def black_hole(self):
        """Unreachable: a listener whose accept queue is full, so the kernel drops every new SYN
        and connect() hangs, as with a firewall dropping packets (connect timeouts)."""
        self.stop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(0)
        self._black_hole = [listener]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._black_hole.append(filler)

    def close_black_hole(self):
        for sock in self._black_hole:
            sock.close()
        self._black_hole = []

    def close(self):
        self.close_black_hole()
        if self.process and self.process.poll() is None:
            self.thaw()
        self.stop()


@pytest.fixture
def throwaway_redis():
    server = ThrowawayRedis().start()
    yield server
    server.close()


@pytest.fixture
def publish_to(live_broker, settings, monkeypatch):
    """Point this process's Celery publishing at another broker: `publish_to(url)`."""
    app = live_broker
    previous = app.conf.broker_url

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    def point(url):
        # Celery reads the environment variable before its own configuration.
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        settings.CELERY_BROKER_URL = url
        app.conf.broker_url = url
        reset_pools()

    yield point
    monkeypatch.undo()
    app.conf.broker_url = previous
    reset_pools()
