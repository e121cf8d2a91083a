from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.demo import seed_demo_leads
from leads.models import Lead

pytestmark = pytest.mark.django_db


def test_retention_command_counts_then_anonymises_with_progress(catalogue, capsys, settings):
    settings.LEADS_RETENTION_DAYS = 30
    seed_demo_leads()
    Lead.objects.filter(email__startswith="priya").update(
        created_at=timezone.now() - timedelta(days=31)
    )

    call_command("leads_anonymise_expired", dry_run=True)
    assert "1 lead(s) received before" in capsys.readouterr().out
    assert Lead.objects.filter(anonymised_at__isnull=False).count() == 0

    call_command("leads_anonymise_expired")
    captured = capsys.readouterr()
    assert "1 lead(s) anonymised" in captured.out
    assert "anonymised 1/1 (100%)" in captured.err
    assert Lead.objects.filter(anonymised_at__isnull=False).count() == 1
    assert Lead.objects.count() == 4


def test_demo_leads_cover_the_pipeline_and_are_idempotent(catalogue):
    assert seed_demo_leads() == 4
    assert seed_demo_leads() == 0
    assert set(Lead.objects.values_list("status", flat=True)) == {
        "new",
        "contacted",
        "quoted",
        "won",
    }


def test_overdue_command_reports_what_it_queued(catalogue, capsys):
    seed_demo_leads()
    Lead.objects.filter(status="new").update(contact_due_at=timezone.now() - timedelta(hours=1))
    call_command("leads_remind_overdue")
    assert "1 overdue reminder(s) queued" in capsys.readouterr().out
