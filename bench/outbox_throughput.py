"""Outbox throughput: e-mails per second from one Celery worker process vs two, to a local
aiosmtpd sink, through the real path (PostgreSQL row lock, Redis, Django's SMTP backend).

    .venv/bin/python bench/outbox_throughput.py [--messages 600]

Needs PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL; defaults to the local ones, a
database `skd_outbox_bench` and queue `skd-outbox-bench`). Bounded: each run stops after 60 s.
"""

import argparse
import time

from outbox_common import SMTPSink, Workers, purge_queue, setup_django


def run(worker_count, messages):
    from skilldacity.outbox.models import Email
    from skilldacity.outbox.services import publish_sends

    Email.objects.all().delete()
    purge_queue()
    with SMTPSink() as sink, Workers(worker_count, sink.port, tag=f"x{worker_count}"):
        Email.objects.bulk_create(
            Email(
                key=f"bench:{worker_count}:{n}",
                to=f"r{n}@example.com",
                template="test_message",
                context={"name": f"Reader {n}"},
                queued_at=None,
            )
            for n in range(messages)
        )
        ids = list(Email.objects.values_list("pk", flat=True))
        started = time.monotonic()
        publish_sends(ids)
        deadline = started + 60
        sent = 0
        while time.monotonic() < deadline:
            sent = Email.objects.filter(status=Email.Status.SENT).count()
            if sent == messages:
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        assert sink.accepted == sent, f"sink saw {sink.accepted}, database says {sent} sent"
    Email.objects.all().delete()
    return sent, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    args = parser.parse_args()
    setup_django()
    results = {}
    for worker_count in (1, 2):
        print(f"{worker_count} worker process(es): sending {args.messages} e-mails...", flush=True)
        sent, elapsed = run(worker_count, args.messages)
        results[worker_count] = sent / elapsed
        print(f"  {sent} sent in {elapsed:.1f}s: {results[worker_count]:.0f} e-mails/s", flush=True)
    print(f"two processes / one process: {results[2] / results[1]:.2f}x")


if __name__ == "__main__":
    main()
