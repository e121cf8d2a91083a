"""Real services: PostgreSQL, Redis, a Celery worker process and an SMTP server.

Under --integration an unreachable service is an error, never a skip. Tests that involve the worker
use the `transactional_db` fixture, because the worker can only see committed rows.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

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

    def __init__(self, smtp_server, concurrency=1, pool="solo", extra_env=None, name="w1"):
        self.smtp_server = smtp_server
        self.concurrency = concurrency
        self.pool = pool
        self.extra_env = extra_env or {}
        self.name = name
        self.process = None
        self.log_path = (
            Path(os.environ.get("TMPDIR", "/tmp")) / f"skd-worker-{os.getpid()}-{name}.log"
        )

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
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
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
        """SIGKILL, as a crashed machine or the OOM killer would."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


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
