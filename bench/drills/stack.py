"""A production-like Skilldacity on loopback, built from scratch and thrown away afterwards.

Its own PostgreSQL cluster (initdb + pg_ctl in a temp dir), its own `redis-server --save ''`, an
SMTP sink process, gunicorn with DJANGO_DEBUG=0, a Celery worker and Celery beat, and the reference
caching proxy (deploy/nginx/) in front of gunicorn, purged by the site; each on a free
port and each one stoppable and restartable, which is what the fault drills need. The machine's
shared PostgreSQL and Redis are never touched.

    python -m bench.drills.stack      # start everything, print the URLs, wait for Ctrl-C
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.nginx.proxy import NginxProxy  # noqa: E402

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PYTHON = sys.executable
QUEUE = "skd-drill"


# Each engineer on a shared machine has a port range; override with DRILL_PORTS=9000-9099.
PORT_RANGE = tuple(int(n) for n in os.environ.get("DRILL_PORTS", "8600-8699").split("-"))
_taken = set()


def free_port():
    """A free loopback port inside PORT_RANGE, never handed out twice by this process."""
    low, high = PORT_RANGE
    for port in range(low, high + 1):
        if port in _taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{high}")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001, S110 - not up yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s")


def port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Service:
    """One subprocess in its own process group, so a kill takes its children with it."""

    def __init__(self, name, argv, env, log_dir, ready=None, cwd=ROOT):
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.ready = ready
        self.log_path = Path(log_dir) / f"{name}.log"
        self.process = None

    def start(self, timeout=60):
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self.ready:
            wait_until(lambda: self._alive() and self.ready(), timeout, self.name)
        return self

    def _alive(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
        return True

    def log_tail(self, lines=30):
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def signal_group(self, sig):
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self):
        """SIGKILL the whole group, as the OOM killer or a lost machine would."""
        self.signal_group(signal.SIGKILL)
        if self.process:
            self.process.wait(15)

    def stop(self, timeout=20):
        if not self.process or self.process.poll() is not None:
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None


class PostgresCluster:
    """A throwaway cluster. initdb refuses to run as root, so as root it runs as `postgres`."""

    def __init__(self, base_dir, port):
        self.dir = Path(base_dir) / "pgdata"
        self.socket_dir = Path(base_dir) / "pgsock"
        self.log = Path(base_dir) / "postgres.log"
        self.port = port
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *argv, timeout=120):
        return subprocess.run(
            [*self.as_user, *argv], check=True, capture_output=True, text=True, timeout=timeout
        )

    def init(self):
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.dir.parent, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self):
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=100 -c shared_buffers=32MB"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-o", options, "-l", str(self.log),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self):
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop")

    def createdb(self, name):
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), name)

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/skilldacity"


class Stack:
    """Everything the drills run against. Use as a context manager: it always cleans up."""

    def __init__(self, web_workers=3, worker_concurrency=2, keep=False):
        self.dir = Path(tempfile.mkdtemp(prefix="skd-drill-"))
        self.keep = keep
        self.web_workers = web_workers
        self.worker_concurrency = worker_concurrency
        names = ("web", "redis", "smtp", "postgres", "proxy")
        self.ports = {name: free_port() for name in names}
        self.sink_path = self.dir / "smtp-sink.jsonl"
        self.postgres = PostgresCluster(self.dir, self.ports["postgres"])
        self.proxy = NginxProxy(
            listen=f"127.0.0.1:{self.ports['proxy']}",
            upstream=f"127.0.0.1:{self.ports['web']}",
            workdir=self.dir / "proxy",
            workers=1,
        )
        self.services = {}
        self.env = self._env()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.ports['web']}"

    def _env(self):
        redis_url = f"redis://127.0.0.1:{self.ports['redis']}/0"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "EMAIL_"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "skilldacity.settings",
                "DJANGO_DEBUG": "0",
                "SECRET_KEY": secrets.token_urlsafe(64),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                # Plain HTTP on loopback: no TLS terminator in front, so no redirect to https.
                "SECURE_SSL_REDIRECT": "0",
                "SITE_URL": self.base_url,
                "DATABASE_URL": self.postgres.url,
                "REDIS_URL": redis_url,
                "CELERY_BROKER_URL": redis_url,
                "CELERY_QUEUE": QUEUE,
                "CACHE_KEY_PREFIX": QUEUE,
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(self.ports["smtp"]),
                "EMAIL_TIMEOUT": "5",
                # Drill visitors fill forms in milliseconds; the timing trap would call them bots.
                "FORM_MIN_FILL_SECONDS": "0",
                # The outbox's clock scaled to a drill of minutes, not hours: retries back off
                # from 5 s up to 60 s and beat sweeps every 10 s (production: 30 s to 30 min, 60 s).
                "OUTBOX_BACKOFF_BASE_SECONDS": os.environ.get("DRILL_OUTBOX_BACKOFF_BASE", "5"),
                "OUTBOX_BACKOFF_MAX_SECONDS": os.environ.get("DRILL_OUTBOX_BACKOFF_MAX", "60"),
                "OUTBOX_SWEEP_INTERVAL_SECONDS": "10",
                "OUTBOX_SWEEP_GRACE_SECONDS": "20",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                "EDGE_CACHE_BACKENDS": json.dumps(self.proxy.backend_settings()),
                # Shared caches keep pages 5 s, not 10 minutes: the proxy's copies have expired
                # by the time PostgreSQL goes down, so what the drill shows is them served stale.
                "PAGE_CACHE_SECONDS": "5",
            }
        )
        return env

    # --- lifecycle -----------------------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def log(self, message):
        print(f"[stack] {message}", file=sys.stderr, flush=True)

    def start(self):
        self.log(f"work dir {self.dir}")
        self.postgres.init()
        self.postgres.start()
        self.postgres.createdb("skilldacity")
        self.log(f"postgres on {self.ports['postgres']}")
        self.services["redis"] = self._redis().start(timeout=20)
        self.services["smtp"] = self._smtp().start(timeout=20)
        self.log(f"redis on {self.ports['redis']}, smtp sink on {self.ports['smtp']}")
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        self.manage("seed_demo")
        self.services["web"] = self._web().start(timeout=60)
        self.services["worker"] = self._worker().start(timeout=60)
        self.services["beat"] = self._beat().start()
        self.log(f"gunicorn ({self.web_workers} workers) on {self.base_url}, worker and beat up")
        self.proxy.start()
        self.log(f"caching proxy (nginx) on {self.proxy.url}")

    def close(self):
        self.proxy.stop()
        for name in ("beat", "worker", "web", "smtp", "redis"):
            service = self.services.get(name)
            if service:
                service.stop()
        with contextlib.suppress(Exception):  # never started, or already stopped
            self.postgres.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            self.log(f"kept {self.dir}")

    def manage(self, *args):
        result = subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    # --- the services --------------------------------------------------------------------
    def _redis(self):
        argv = [
            "redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]  # fmt: skip
        return Service(
            "redis", argv, self.env, self.dir, ready=lambda: port_open(self.ports["redis"])
        )

    def _smtp(self):
        argv = [
            PYTHON, "-m", "bench.drills.smtp_sink",
            "--port", str(self.ports["smtp"]), "--store", str(self.sink_path),
        ]  # fmt: skip
        return Service(
            "smtp", argv, self.env, self.dir, ready=lambda: port_open(self.ports["smtp"])
        )

    def _web(self):
        argv = [
            PYTHON, "-m", "gunicorn", "skilldacity.wsgi",
            "--bind", f"127.0.0.1:{self.ports['web']}",
            "--workers", str(self.web_workers), "--timeout", "30",
            "--graceful-timeout", "5", "--access-logfile", "-",
        ]  # fmt: skip

        def ready():
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=5) as response:  # noqa: S310
                return response.status == 200

        return Service("web", argv, self.env, self.dir, ready=ready)

    def _worker(self):
        argv = [
            PYTHON, "-m", "celery", "-A", "skilldacity", "worker", "--loglevel=INFO",
            f"--concurrency={self.worker_concurrency}", "-Q", QUEUE, "-n", "drill@%h",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        service = Service("worker", argv, self.env, self.dir)
        service.ready = lambda: "ready." in service.log_tail(200)
        return service

    def _beat(self):
        argv = [
            PYTHON, "-m", "celery", "-A", "skilldacity", "beat", "--loglevel=INFO",
            "--schedule", str(self.dir / "celerybeat-schedule"),
        ]  # fmt: skip
        return Service("beat", argv, self.env, self.dir)

    # --- faults --------------------------------------------------------------------------
    def restart_redis(self, down_seconds):
        """Stop Redis (its data is gone: `--save ''`), wait, start a fresh one on the same port."""
        self.services["redis"].stop()
        time.sleep(down_seconds)
        self.services["redis"] = self._redis().start(timeout=20)

    def kill_worker(self, down_seconds):
        self.services["worker"].kill()
        time.sleep(down_seconds)
        self.services["worker"] = self._worker().start(timeout=60)

    def smtp_outage(self, down_seconds):
        self.services["smtp"].stop()
        time.sleep(down_seconds)
        self.services["smtp"] = self._smtp().start(timeout=20)

    def restart_postgres(self, down_seconds):
        """Stop PostgreSQL, wait, start it; returns (stop began, accepting again) in time.time()."""
        stopping = time.time()
        self.postgres.stop()
        time.sleep(down_seconds)
        self.postgres.start()
        return stopping, time.time()


def main():
    with Stack(keep=True) as stack:
        print(f"site: {stack.base_url}  (healthz: {stack.base_url}/healthz)")
        print(f"postgres: {stack.postgres.url}  smtp sink file: {stack.sink_path}")
        print(f"caching proxy: {stack.proxy.url}")
        print("Ctrl-C to stop and clean up")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
