"""The drill's verdict on 5xx answers: only a 503 while PostgreSQL was really down is excused.

The drill once failed CI on a 5xx that was in flight during the outage: its visit had begun just
before PostgreSQL stopped (the page), and its form post went out during the outage, but the verdict
looked at when the visit began.
"""

import json
import re
from types import SimpleNamespace

import pytest
from django.utils import timezone

from bench.drills.load import Record, Sample, Submission
from bench.drills.run import check, excused, explain_doubles
from referrals.models import KnownEmail
from skilldacity.outbox.services import email_enqueue

OUTAGE = [(100.0, 105.0)]


def answer(status, sent, answered, scheduled=None):
    scheduled = sent if scheduled is None else scheduled
    return Sample("visitor", "POST", "/contact/", status, scheduled, answered - scheduled, "", sent)


def test_a_503_sent_during_the_outage_is_excused_even_if_its_visit_began_before():
    assert excused(answer(503, sent=100.5, answered=100.6, scheduled=99.0), OUTAGE)


def test_a_503_in_flight_when_postgres_stopped_is_excused():
    assert excused(answer(503, sent=99.9, answered=100.2), OUTAGE)


def test_a_500_during_the_outage_is_not_excused():
    assert not excused(answer(500, sent=101.0, answered=101.1), OUTAGE)


def test_a_503_before_or_after_the_outage_is_not_excused():
    assert not excused(answer(503, sent=98.0, answered=99.5), OUTAGE)
    assert not excused(answer(503, sent=105.5, answered=105.6), OUTAGE)


@pytest.mark.django_db(transaction=True)  # check() closes old connections, as the drill needs
def test_a_doubled_e_mail_fails_the_drill_and_says_which_row_it_was(tmp_path, capsys):
    """A full drill once reported one doubled e-mail and nothing else; its logs were gone."""
    address = "drill-x-1@example.com"
    KnownEmail.objects.create(email=address, first_source="lead", first_seen_at=timezone.now())
    email_enqueue(key="lead-ack:7", to=address, template="lead_ack", context={})
    copy = {"rcpt_tos": [address], "key": "lead-ack:7", "html": "", "to": address}
    sink = tmp_path / "sink.jsonl"
    sink.write_text(
        "".join(
            json.dumps({**copy, "message_id": "<same@skilldacity>", "received_at": at}) + "\n"
            for at in (1000.0, 1003.5)
        )
    )
    record = Record()
    record.accept(Submission(address, "/contact/", 999.0))
    result = check(record, SimpleNamespace(sink_path=sink))
    assert result["doubled e-mails"] == [address]
    assert result["doubled rows"] == []

    explain_doubles(result["doubles explained"])
    out = capsys.readouterr().out
    assert "in the sink: key lead-ack:7 Message-ID <same@skilldacity> at 1003.5" in out
    # Sent inline on SQLite, still pending with a broker and no worker: either way, named.
    assert re.search(r"outbox row: lead-ack:7 (pending|sent), \d attempt\(s\)", out)
