"""Bench: send a newsletter issue to 100,000 generated confirmed subscribers.

Runs against PostgreSQL (its own database, BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/skd_newsletter_bench), a private redis-server it starts on a free
loopback port (100,000 queued tasks never land in a shared Redis) and an aiosmtpd sink that counts
and discards. Prints:

- enqueue: time to queue all recipients (one outbox row each, key newsletter:<issue>:<subscriber>,
  plus one Celery message each), and the peak RSS of the enqueueing process against its RSS before
  it started (bounded memory: it walks ids in batches, never holds the list);
- baseline for enqueue: bulk INSERT of the same number of bare outbox rows in the same run;
- send: e-mails per second for one Celery worker (solo pool) over a fixed window, against the
  baseline of the same message sent straight over SMTP from one process, and the worker's peak RSS.
  The full send is not waited for: the time for all of it is extrapolated from the rate.

    .venv/bin/python bench/newsletter_send.py [--subscribers 100000] [--send-seconds 30]
"""

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench_database import ensure_database  # bench/ is on sys.path for its scripts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/skd_newsletter_bench"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_peak_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def setup_django(env):
    os.environ.update(env)
    import django

    django.setup()


# --- child: the enqueueing process ---------------------------------------------------------


def enqueue_child(issue_id, sample):
    setup_django({})
    from django.db import connection

    from newsletter import services

    connection.ensure_connection()
    before = peak_rss_mb()
    started = time.perf_counter()
    issue = services.issue_start_send(issue_id=issue_id)
    queued, after_first = 0, None
    while queued < sample:
        batch = services.issue_enqueue_batch(issue_id=issue_id)
        if not batch:
            break
        queued += batch
        after_first = after_first or peak_rss_mb()
    elapsed = time.perf_counter() - started
    print(
        f"RESULT {queued} {elapsed:.3f} {before:.1f} {after_first:.1f} {peak_rss_mb():.1f} "
        f"{issue.recipients_total}",
        flush=True,
    )


# --- parent: orchestration -----------------------------------------------------------------


class CountingSink:
    def __init__(self):
        self.count = 0
        self.first_at = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            self.count += 1
            self.first_at = self.first_at or time.perf_counter()
        return "250 OK"


def generate_subscribers(count):
    """COPY `count` confirmed subscribers in, streamed: the bench's own setup, not measured."""
    import io

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE newsletter_discountcode, newsletter_subscriber, newsletter_issue, "
            "newsletter_issue_featured_articles, outbox_email RESTART IDENTITY CASCADE"
        )
        columns = (
            "email, first_name, status, source, consent_text, consent_at, attribution, "
            "token_nonce, confirmation_sends, created_at, confirmed_at"
        )
        chunk = 20000
        for start in range(0, count, chunk):
            buffer = io.StringIO()
            for n in range(start, min(start + chunk, count)):
                buffer.write(
                    f"reader{n}@bench.example\tReader\tconfirmed\tfooter\tYes\t2026-01-01 00:00Z"
                    f"\t{{}}\tnonce{n:010d}\t1\t2026-01-01 00:00Z\t2026-01-01 00:01Z\n"
                )
            buffer.seek(0)
            cursor.copy_expert(f"COPY newsletter_subscriber ({columns}) FROM STDIN", buffer)
        cursor.execute("ANALYZE newsletter_subscriber")


def baseline_insert(count):
    """Bare outbox rows, bulk-inserted: the cheapest way to write one row per recipient."""
    from django.db import connection, transaction

    from skilldacity.outbox.models import Email

    started = time.perf_counter()
    with transaction.atomic():
        for start in range(0, count, 1000):
            Email.objects.bulk_create(
                Email(key=f"baseline:{n}", to=f"reader{n}@bench.example", template="x")
                for n in range(start, min(start + 1000, count))
            )
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM outbox_email WHERE key LIKE 'baseline:%%'")
    return count / elapsed


def baseline_smtp(issue, seconds):
    """The same issue e-mail built and sent straight over SMTP, one connection per message (as
    the outbox does), from this process: the ceiling for a worker."""
    from newsletter import services
    from skilldacity.outbox.models import Email
    from skilldacity.outbox.services import build_message

    link = services.unsubscribe_url(subscriber_id=1, nonce="nonce0000000000")
    email = Email(
        key="baseline",
        to="reader0@bench.example",
        template="newsletter_issue",
        context=services.issue_email_context(issue, first_name="Reader", unsubscribe_link=link),
        headers=services.one_click_headers(link),
    )
    sent, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        message = build_message(email)
        message.send()
        sent += 1
    return sent / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--enqueue-sample",
        type=int,
        default=10_000,
        help="queue this many of the recipients and extrapolate (the whole 100,000 takes minutes "
        "on a shared machine); memory is read after the first batch and at the end",
    )
    parser.add_argument("--send-seconds", type=float, default=20)
    parser.add_argument("--enqueue-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enqueue_child:
        return enqueue_child(args.enqueue_child, args.enqueue_sample)

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    ensure_database(db_url)
    redis_port, smtp_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {
        "DJANGO_SETTINGS_MODULE": "skilldacity.settings",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_QUEUE": "skd-newsletter-bench",
        "CACHE_KEY_PREFIX": "skd-newsletter-bench",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "SITE_URL": "https://skilldacity.example",
        "LOG_LEVEL": "WARNING",
    }
    redis = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    worker = None
    from aiosmtpd.controller import Controller

    sink = CountingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        setup_django(env)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from django.conf import settings

        from newsletter.models import Issue

        print(f"generating {args.subscribers} confirmed subscribers (COPY)…", file=sys.stderr)
        generate_subscribers(args.subscribers)
        insert_rate = baseline_insert(min(args.subscribers, 20_000))
        issue = Issue.objects.create(
            subject="Bench issue", body="## Hello\n\nA **bench** issue with [a link](/news/)."
        )

        print("enqueueing in a separate process…", file=sys.stderr)
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--enqueue-child",
                str(issue.pk),
                "--enqueue-sample",
                str(args.enqueue_sample),
            ],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        result = next(line for line in child.stdout.splitlines() if line.startswith("RESULT"))
        queued, enqueue_s, rss_before, rss_first, rss_peak, total = (
            float(v) for v in result.split()[1:]
        )

        baseline_rate = baseline_smtp(issue, seconds=5)
        sink.count, sink.first_at = 0, None

        print(f"one worker sending for {args.send_seconds:.0f} s…", file=sys.stderr)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "skilldacity",
                "worker",
                "--pool=solo",
                "--loglevel=WARNING",
                "-Q",
                env["CELERY_QUEUE"],
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.perf_counter() + 60
        while sink.first_at is None and time.perf_counter() < deadline:
            time.sleep(0.05)
        if sink.first_at is None:
            raise RuntimeError("the worker sent nothing in 60 s")
        start_count, start_at = sink.count, time.perf_counter()
        time.sleep(args.send_seconds)
        sent = sink.count - start_count
        send_rate = sent / (time.perf_counter() - start_at)
        worker_peak = process_peak_mb(worker.pid)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        controller.stop()
        redis.terminate()
        redis.wait(10)

    enqueue_rate = queued / enqueue_s
    batch = settings.NEWSLETTER_SEND_BATCH_SIZE
    print(f"subscribers (confirmed, generated):   {args.subscribers}")
    print(
        f"enqueue: {int(queued)} of {int(total)} recipients in {enqueue_s:.1f} s = "
        f"{enqueue_rate:.0f}/s; all {int(total)} extrapolated: {total / enqueue_rate:.0f} s"
    )
    print(
        f"  baseline bare bulk INSERT:          {insert_rate:.0f} rows/s "
        f"(enqueue is {enqueue_rate / insert_rate:.3f}x of it)"
    )
    print(
        f"  enqueueing process peak RSS:        {rss_before:.0f} MB before, {rss_first:.0f} MB "
        f"after the first batch of {batch}, {rss_peak:.0f} MB after {int(queued)} "
        f"(+{rss_peak - rss_first:.1f} MB over {int(queued / batch) - 1} more batches)"
    )
    print(
        f"send: one worker (solo pool):         {send_rate:.1f} e-mails/s "
        f"over {args.send_seconds:.0f} s ({sent} sent)"
    )
    print(
        f"  baseline direct SMTP, one process:  {baseline_rate:.0f} e-mails/s "
        f"(worker is {send_rate / baseline_rate:.2f}x of it)"
    )
    print(f"  worker peak RSS:                    {worker_peak:.0f} MB")
    print(
        f"  extrapolated: all {int(total)} with one worker in "
        f"{total / send_rate / 60:.0f} min; workers divide it (PostgreSQL permitting)"
    )


if __name__ == "__main__":
    main()
