from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from articles.models import Article
from leads.models import Lead

# A Wednesday noon, well inside the dashboard's default twelve weeks when "today" is a week later.
T0 = datetime(2026, 10, 14, 12, 0, tzinfo=ZoneInfo("Europe/London"))
TODAY = T0 + timedelta(days=7)


@pytest.fixture
def frozen_today(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: TODAY)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY.date())
    return TODAY


def make_lead(**fields):
    defaults = {
        "kind": Lead.Kind.CALLBACK,
        "name": "Visitor",
        "email": "visitor@example.com",
        "consent_text": "I agree",
        "dedupe_hash": "x",
        "created_at": T0,
        "contact_due_at": T0 + timedelta(days=1),
    }
    defaults.update(fields)
    return Lead.objects.create(**defaults)


@pytest.fixture
def known_funnel(db):
    """Six leads whose funnel can be counted by hand (see test_dashboard.py)."""
    article = Article.objects.create(
        title="ML careers", slug="ml-careers", body="x", status="published", published_at=T0
    )
    hour, day = timedelta(hours=1), timedelta(days=1)
    make_lead(article=article, status="contacted", contacted_at=T0 + 2 * hour)
    make_lead(
        kind="quote",
        article=article,
        status="won",
        contacted_at=T0 + 4 * hour,
        quoted_at=T0 + 4 * hour + day,
        closed_at=T0 + 4 * hour + 3 * day,
    )
    make_lead(
        kind="quote",
        utm_source="linkedin",
        status="lost",
        contacted_at=T0 + 6 * hour,
        quoted_at=T0 + 6 * hour + 3 * day,
        closed_at=T0 + 6 * hour + 4 * day,
    )
    make_lead(referral_code="ABC123")
    make_lead(kind="quote")
    make_lead(status="spam", contacted_at=T0 + hour)
    return article
