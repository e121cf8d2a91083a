"""Shared parts of the outbox benchmarks: a bench database, an SMTP sink, Celery workers.

Loopback only, bounded, and everything started here is stopped here.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench_database import ensure_database  # bench/ is on sys.path for its scripts

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/skd_outbox_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "skd-outbox-bench")


def celery_worker_command(queue, name):
    """One solo-pool Celery worker on `queue`, quiet and without cluster chatter (benches only)."""
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "skilldacity",
        "worker",
        "--pool=solo",
        "--loglevel=WARNING",
        "-Q",
        queue,
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def bench_env(**extra):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        DB_CONN_MAX_AGE="60",
        REDIS_URL=REDIS_URL,
        CELERY_BROKER_URL=REDIS_URL,
        CELERY_QUEUE=QUEUE,
        CACHE_KEY_PREFIX=QUEUE,
        LOG_LEVEL="WARNING",
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def setup_django(**extra):
    """Configure this process for the bench database and broker, create and migrate it."""
    os.environ.update(bench_env(**extra))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "skilldacity.settings")
    sys.path.insert(0, str(ROOT))
    ensure_database(DATABASE_URL)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def free_port(start=8200, end=8299):
    for port in range(start, end + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}-{end}")


class SMTPSink:
    """aiosmtpd on loopback that counts what it accepts, optionally slow per message."""

    def __init__(self, seconds_per_message=0.0):
        self.seconds_per_message = seconds_per_message
        self.accepted = 0
        self.port = free_port()
        self._lock = threading.Lock()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        if self.seconds_per_message:
            await asyncio.sleep(self.seconds_per_message)
        with self._lock:
            self.accepted += 1
        return "250 OK"

    def __enter__(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Workers:
    """N `celery worker --pool=solo` processes, each its own process group."""

    def __init__(self, count, smtp_port, tag):
        self.count, self.smtp_port, self.tag = count, smtp_port, tag
        self.processes, self.logs = [], []

    def __enter__(self):
        env = bench_env(EMAIL_HOST="127.0.0.1", EMAIL_PORT=self.smtp_port, EMAIL_TIMEOUT=10)
        for n in range(self.count):
            log = Path(f"/tmp/skd-outbox-bench-{os.getpid()}-{self.tag}-{n}.log")
            log.unlink(missing_ok=True)
            self.logs.append(log)
            self.processes.append(
                subprocess.Popen(
                    celery_worker_command(QUEUE, f"bench-{self.tag}-{n}"),
                    cwd=ROOT,
                    env=env,
                    stdout=log.open("ab"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout=60):
        from skilldacity.celery import app

        deadline = time.monotonic() + timeout
        names = {f"bench-{self.tag}-{n}@{socket.gethostname()}" for n in range(self.count)}
        while time.monotonic() < deadline:
            replies = app.control.ping(destination=list(names), timeout=0.5) or []
            if {name for reply in replies for name in reply} >= names:
                return
        raise RuntimeError("bench workers not ready: " + " ".join(p.read_text() for p in self.logs))

    def __exit__(self, *exc):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        purge_queue()


def purge_queue():
    from skilldacity.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
