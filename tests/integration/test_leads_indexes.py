"""The lookups staff and visitors wait for reach their rows through an index, not by reading every
lead (a plan is what a test can hold; the times are in the migration's comment)."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from leads.models import Lead
from leads.services import LATEST_DUPLICATE_SQL

pytestmark = pytest.mark.integration


def plan(queryset):
    return plan_sql(*queryset.query.sql_with_params())


def plan_sql(sql, params):
    with connection.cursor() as cursor:
        # Off, so that the plan shows whether an index can serve the query at all (with a few
        # rows a sequential scan is cheaper and would be chosen either way).
        cursor.execute("SET LOCAL enable_seqscan TO off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_a_persons_leads_are_found_by_email_in_any_case_through_an_index():
    # Personal data export and erasure look a visitor up by e-mail, case-insensitively: before,
    # neither e-mail index could serve UPPER(email) and 1,000,000 leads were read (255 ms).
    assert "lead_email_upper_idx" in plan(Lead.objects.for_email("Ada@Example.com"))


@pytest.mark.django_db
def test_the_duplicate_check_and_the_overdue_list_are_served_by_their_two_column_indexes():
    assert "lead_dedupe_idx" in plan_sql(
        LATEST_DUPLICATE_SQL, ["a" * 64, datetime(2026, 1, 1, tzinfo=UTC)]
    )
    assert "lead_overdue_idx" in plan(Lead.objects.overdue())


@pytest.mark.django_db
def test_the_leads_waiting_for_the_tally_job_are_found_through_their_partial_index():
    # The job and every dashboard read look for them; with 1,000,000 counted leads and none
    # waiting, that must not read the table.
    waiting = Lead.objects.filter(tallied=False).order_by("pk").values("id")[:1000]
    assert "lead_untallied_idx" in plan(waiting)
