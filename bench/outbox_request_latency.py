"""Does a form that sends e-mail answer as fast as one that does not?

A form-like view (bench/outbox_latency_urls.py) on gunicorn, posted alternately with e-mail off
and with e-mail on (outbox row + Celery task), while a real Celery worker delivers to an SMTP
server that takes one second per message. A few posts that send SMTP inside the request show
what the outbox keeps out of it.

    .venv/bin/python bench/outbox_request_latency.py [--requests 400]

Needs PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL); gunicorn on a port in
8200-8299. Bounded: about a minute.
"""

import argparse
import http.client
import os
import secrets
import signal
import statistics
import subprocess
import time
from urllib.parse import urlencode

from outbox_common import (
    PYTHON,
    ROOT,
    SMTPSink,
    Workers,
    bench_env,
    free_port,
    percentile,
    setup_django,
)

BODY = urlencode({"name": "Ada Lovelace", "email": "ada@example.com"})
HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def post(conn, mode):
    started = time.perf_counter()
    conn.request("POST", f"/contact/{mode}/", BODY, HEADERS)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"{mode}: HTTP {response.status}")
    return elapsed * 1000


def start_gunicorn(port, smtp_port):
    env = bench_env(
        DJANGO_SETTINGS_MODULE="outbox_latency_settings",
        DJANGO_DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=smtp_port,
    )
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "skilldacity.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
            "--pythonpath",
            f"{ROOT},{ROOT / 'bench'}",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            post(conn, "off")
            return process, conn
        except (ConnectionRefusedError, RuntimeError, http.client.HTTPException):
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError("gunicorn did not start")


def summary(label, samples):
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    return (
        f"{label:<26} p50 {p50:6.2f} ms   p99 {p99:7.2f} ms"
        f"   mean {statistics.fmean(samples):6.2f} ms   (n={len(samples)})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="posts per mode")
    args = parser.parse_args()
    setup_django()
    from django.contrib.auth.models import Group

    from skilldacity.outbox.models import Email

    with SMTPSink(seconds_per_message=1.0) as smtp, Workers(1, smtp.port, tag="latency"):
        server, conn = start_gunicorn(free_port(), smtp.port)
        try:
            for _ in range(30):  # warm both paths: imports, connections, template caches
                post(conn, "off")
                post(conn, "outbox")
            samples = {"off": [], "outbox": []}
            for _ in range(args.requests):
                for mode in ("off", "outbox"):  # alternate, so drift hits both alike
                    samples[mode].append(post(conn, mode))
            inline = [post(conn, "inline-smtp") for _ in range(3)]
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(20)
        delivered = smtp.accepted
    queued = Email.objects.count()
    Email.objects.all().delete()
    Group.objects.filter(name__startswith="bench-").delete()

    print("gunicorn 2 sync workers, 1 Celery worker, SMTP server taking 1 s per message")
    print(summary("e-mail off", samples["off"]))
    print(summary("e-mail on (outbox)", samples["outbox"]))
    print(summary("SMTP inside the request", inline))
    p50 = percentile(samples["outbox"], 0.5) - percentile(samples["off"], 0.5)
    p99 = percentile(samples["outbox"], 0.99) - percentile(samples["off"], 0.99)
    print(
        f"outbox cost: p50 +{p50:.2f} ms, p99 +{p99:.2f} ms, ratio p50 "
        f"{percentile(samples['outbox'], 0.5) / percentile(samples['off'], 0.5):.2f}x"
    )
    print(f"{queued} e-mails recorded; the 1 s/message server accepted {delivered} meanwhile")


if __name__ == "__main__":
    main()
