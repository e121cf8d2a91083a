"""Bench: send a newsletter issue to 100,000 generated confirmed subscribers.

Runs against PostgreSQL (its own database, BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/skd_newsletter_bench), a private redis-server it starts on a free
loopback port (queued tasks never land in a shared Redis) and an aiosmtpd sink that counts and
discards. Prints, each against a baseline measured in the same run:

- enqueue: time to queue every recipient (one outbox row each, key newsletter:<issue>:<subscriber>,
  one INSERT per batch), and the enqueueing process's RSS before, after its first batch and at the
  end; baseline: bulk INSERT of the same number of bare outbox rows (1,000 per statement);
- send, one worker: e-mails per second for one Celery worker (solo pool) over fixed windows;
  baselines: the same e-mail built and sent straight over SMTP from one process, over one reused
  connection (the ceiling for a process), in windows alternating with the worker's (the ratio is
  the median of the rounds'), and with one connection per message (the old outbox way);
- the whole thing with 4 worker processes: a second issue to all the subscribers, from "send" to
  the last e-mail in the sink, and each worker's RSS sampled along the way (flat = bounded memory).

    .venv/bin/python bench/newsletter_send.py [--subscribers 100000] [--send-seconds 30]
        [--send-rounds 3]
"""

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench_database import ensure_database  # bench/ is on sys.path for its scripts
from outbox_common import celery_worker_command

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/skd_newsletter_bench"
# Issue 14's figures, each against the same baseline: 285 recipients/s against 5,150 rows/s, and
# 35.6 e-mails/s against 138/s.
BEFORE_ENQUEUE_RATIO, BEFORE_SEND_RATIO = 0.055, 0.26


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
    while not sample or queued < sample:
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


def baseline_smtp(issue, seconds, *, reuse):
    """The same issue e-mail built and sent straight over SMTP from this process: over one reused
    connection, the ceiling for a worker process; one connection per message, the old outbox."""
    from django.core.mail import get_connection

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
    connection = get_connection()
    if reuse:
        connection.open()
    sent, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        connection.send_messages([build_message(email)])
        sent += 1
    rate = sent / (time.perf_counter() - started)
    connection.close()
    return rate


def smtp_child(env, issue_id, *, reuse, seconds=5):
    """The SMTP baseline from a process of its own, as a worker is: the sink lives in this one."""
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--smtp-child",
            str(issue_id),
            "--smtp-seconds",
            str(seconds),
            *(["--reuse"] if reuse else []),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(next(line for line in child.stdout.splitlines() if line.startswith("RESULT"))[7:])


def start_worker(env, name):
    return subprocess.Popen(
        celery_worker_command(env["CELERY_QUEUE"], name),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_workers(workers):
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()


def process_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_first(sink, seconds=60):
    deadline = time.perf_counter() + seconds
    while sink.first_at is None and time.perf_counter() < deadline:
        time.sleep(0.05)
    if sink.first_at is None:
        raise RuntimeError(f"no worker sent anything in {seconds} s")


def one_worker_rate(env, sink, seconds):
    sink.count, sink.first_at = 0, None
    worker = start_worker(env, "one")
    try:
        wait_for_first(sink)
        start_count, start_at = sink.count, time.perf_counter()
        time.sleep(seconds)
        sent = sink.count - start_count
        rate = sent / (time.perf_counter() - start_at)
        peak = process_peak_mb(worker.pid)
    finally:
        stop_workers([worker])
    return rate, sent, peak


def full_run(env, sink, worker_count, timeout):
    """A fresh issue to every subscriber: staff press "send" (the enqueue task goes to the
    workers too), then wait for the last e-mail. Returns (seconds, delivered, RSS samples)."""
    from newsletter import services
    from newsletter.models import Issue
    from newsletter.tasks import enqueue_issue

    issue = Issue.objects.create(subject="Bench issue, full run", body="## Again\n\nHello.")
    sink.count, sink.first_at = 0, None
    workers = [start_worker(env, f"w{n}") for n in range(worker_count)]
    samples = []  # (delivered, [RSS MB of each worker])
    try:
        time.sleep(3)  # the workers' start-up is not part of a send
        started = time.perf_counter()
        issue = services.issue_start_send(issue_id=issue.pk)
        enqueue_issue.delay(issue.pk)
        total = issue.recipients_total
        next_sample = 0
        while sink.count < total and time.perf_counter() - started < timeout:
            if sink.count >= next_sample:
                samples.append((sink.count, [process_rss_mb(w.pid) for w in workers]))
                next_sample += total // 5
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        samples.append((sink.count, [process_rss_mb(w.pid) for w in workers]))
        time.sleep(2)  # a duplicate would show up here
        delivered = sink.count
        issue = Issue.objects.get(pk=issue.pk)
        progress_started = time.perf_counter()
        progress = services.issue_progress(issue)
        progress["ms"] = (time.perf_counter() - progress_started) * 1000
    finally:
        stop_workers(workers)
    return elapsed, delivered, total, samples, progress


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--enqueue-sample",
        type=int,
        default=0,
        help="queue only this many of the recipients and extrapolate (default: all)",
    )
    parser.add_argument("--send-seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=4, help="worker processes for the full run")
    parser.add_argument("--full-timeout", type=float, default=900)
    parser.add_argument("--enqueue-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--smtp-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smtp-seconds", type=float, default=5, help=argparse.SUPPRESS)
    parser.add_argument(
        "--send-rounds",
        type=int,
        default=3,
        help="the one-worker window and its SMTP baseline alternate this many times, "
        "--send-seconds split between the rounds; the ratio is the median of the rounds'",
    )
    args = parser.parse_args()
    if args.enqueue_child:
        return enqueue_child(args.enqueue_child, args.enqueue_sample)
    if args.smtp_child:
        setup_django({})
        from newsletter.models import Issue

        issue = Issue.objects.get(pk=args.smtp_child)
        rate = baseline_smtp(issue, seconds=args.smtp_seconds, reuse=args.reuse)
        return print(f"RESULT {rate}", flush=True)

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
        # As in production: with DEBUG on, every process keeps a log of its SQL (each batch
        # INSERT's text included), which is not the memory being measured.
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k3y" * 20,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
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
        from skilldacity.outbox.models import Email

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
            timeout=900,
            check=True,
        )
        result = next(line for line in child.stdout.splitlines() if line.startswith("RESULT"))
        queued, enqueue_s, rss_before, rss_first, rss_peak, total = (
            float(v) for v in result.split()[1:]
        )

        smtp_per_message = smtp_child(env, issue.pk, reuse=False)

        # What autovacuum does after a bulk insert, which this machine's PostgreSQL has switched
        # off: without it the one-worker window paid for the baseline's 20,000 dead rows and for
        # setting the fresh rows' hint bits, a cost the SMTP baseline does not have.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            autovacuum = cursor.fetchone()[0]
            cursor.execute("VACUUM ANALYZE outbox_email")
        # The worker's windows alternate with the baseline's, each ratio against the baseline
        # just before it: one window of each measured mostly who else was busy at the time.
        window = args.send_seconds / args.send_rounds
        send_rounds = []  # (baseline rate, worker rate, sent, worker peak RSS)
        for number in range(args.send_rounds):
            print(f"round {number + 1}: the SMTP baseline, then one worker, {window:.0f} s each…",
                  file=sys.stderr)  # fmt: skip
            baseline = smtp_child(env, issue.pk, reuse=True, seconds=window)
            send_rounds.append((baseline, *one_worker_rate(env, sink, window)))
        smtp_reused = statistics.median(baseline for baseline, *_ in send_rounds)
        send_ratio = statistics.median(rate / baseline for baseline, rate, *_ in send_rounds)
        sent = sum(count for *_, count, _ in send_rounds)
        send_rate = statistics.median(rate for _, rate, *_ in send_rounds)
        worker_peak = max(peak for *_, peak in send_rounds)

        # The rest of the first issue is not part of the full run.
        Email.objects.filter(status=Email.Status.PENDING).update(status=Email.Status.CANCELLED)
        import redis as redis_client

        redis_client.Redis.from_url(redis_url).flushall()
        print(f"full run: {args.workers} workers, a new issue to everyone…", file=sys.stderr)
        full_s, delivered, full_total, samples, progress = full_run(
            env, sink, args.workers, args.full_timeout
        )
    finally:
        controller.stop()
        redis.terminate()
        redis.wait(10)

    enqueue_rate = queued / enqueue_s
    batch = settings.NEWSLETTER_SEND_BATCH_SIZE
    print(f"subscribers (confirmed, generated):   {args.subscribers}")
    print(
        f"enqueue: {int(queued)} of {int(total)} recipients in {enqueue_s:.1f} s = "
        f"{enqueue_rate:.0f}/s"
    )
    print(
        f"  baseline bare bulk INSERT:          {insert_rate:.0f} rows/s "
        f"(enqueue is {enqueue_rate / insert_rate:.3f}x of it; target >= 0.5x; "
        f"before: {BEFORE_ENQUEUE_RATIO}x)"
    )
    print(
        f"  enqueueing process peak RSS:        {rss_before:.0f} MB before, {rss_first:.0f} MB "
        f"after the first batch of {batch}, {rss_peak:.0f} MB after {int(queued)} "
        f"(+{rss_peak - rss_first:.1f} MB over {int(queued / batch) - 1} more batches)"
    )
    print(f"  (PostgreSQL autovacuum is {autovacuum}: the bench ran VACUUM ANALYZE outbox_email)")
    print(
        f"send: one worker (solo pool):         {send_rate:.1f} e-mails/s (median of "
        f"{args.send_rounds} windows of {window:.0f} s, {sent} sent), peak RSS {worker_peak:.0f} MB"
    )
    print(
        f"  baseline direct SMTP, one process, one reused connection: {smtp_reused:.0f} e-mails/s "
        f"(worker is {send_ratio:.2f}x of it, median of the rounds: "
        f"{', '.join(f'{rate / baseline:.2f}x' for baseline, rate, *_ in send_rounds)}; "
        f"target >= 0.8x; before: {BEFORE_SEND_RATIO}x)"
    )
    print(
        f"  baseline direct SMTP, one process, a connection per message: "
        f"{smtp_per_message:.0f} e-mails/s (worker is {send_rate / smtp_per_message:.2f}x of it)"
    )
    print(
        f"full run, {args.workers} worker processes: {delivered} of {full_total} delivered in "
        f"{full_s:.0f} s ({delivered / full_s:.0f} e-mails/s; target: all in under 300 s); "
        f"outbox says {progress['sent']} sent, {progress['failed']} failed"
    )
    print(f"  the admin's progress for that issue:  {progress['ms']:.0f} ms (one grouped count)")
    for count, rss in samples:
        sizes = ", ".join(f"{m:.0f}" for m in rss)
        print(f"  worker RSS at {count:>7} delivered: {sizes} MB")


if __name__ == "__main__":
    main()
