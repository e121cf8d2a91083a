"""Two workers and two sweeps at once, every task published twice: still one e-mail per row."""

import threading
from collections import Counter

from django.db import connection

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import outbox_sweep, publish_sends

from .conftest import FAST_OUTBOX_ENV

ROWS = 40


def test_two_workers_and_two_sweeps_send_each_row_once(
    celery_worker_factory, live_broker, smtp_server, fast_outbox
):
    """Rows left behind by an outage (no task on its way). Two sweeps run at the same instant
    while every row also gets two direct tasks, and two worker processes race for all of it."""
    smtp_server.inbox.delay = 0.02  # long enough for workers to overlap on the same rows
    workers = [celery_worker_factory(name=f"racer{n}", extra_env=FAST_OUTBOX_ENV) for n in range(2)]
    Email.objects.bulk_create(
        Email(key=f"race:{n}", to=f"r{n}@example.com", template="test_message", queued_at=None)
        for n in range(ROWS)
    )
    ids = list(Email.objects.values_list("pk", flat=True))
    start = threading.Barrier(2)
    handed_out = []

    def sweep():
        try:
            start.wait()
            handed_out.append(outbox_sweep())
        finally:
            connection.close()

    sweeps = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in sweeps:
        thread.start()
    publish_sends(ids)
    publish_sends(list(reversed(ids)))
    for thread in sweeps:
        thread.join(30)

    assert sorted(pk for batch in handed_out for pk in batch) == sorted(ids), (
        "the two sweeps shared the rows out between them, none twice"
    )
    received = smtp_server.inbox.wait_for(ROWS, timeout=60)
    assert len(received) == ROWS, [w.log() for w in workers]
    smtp_server.inbox.wait_for(ROWS + 1, timeout=3)
    counts = Counter(m["X-Skilldacity-Key"] for m in smtp_server.inbox.messages)
    assert counts == {f"race:{n}": 1 for n in range(ROWS)}
    assert set(Email.objects.values_list("status", "attempts")) == {(Email.Status.SENT, 1)}
    assert all("succeeded" in w.log() for w in workers), "both workers took part"
