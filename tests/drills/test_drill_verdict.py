"""The drill's verdict on 5xx answers: only a 503 while PostgreSQL was really down is excused.

The drill once failed CI on a 5xx that was in flight during the outage: its visit had begun just
before PostgreSQL stopped (the page), and its form post went out during the outage, but the verdict
looked at when the visit began.
"""

from bench.drills.load import Sample
from bench.drills.run import excused

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
