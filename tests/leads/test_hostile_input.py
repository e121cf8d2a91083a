"""Arbitrary posts to both forms: never a 500, never a half-saved lead."""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from leads.models import Lead, LeadActivity
from skilldacity.outbox.models import Email

CALLBACK_FIELDS = [
    "name", "phone", "email", "course", "platform", "call_time", "call_timezone", "message",
    "consent", "article", "next", "website", "form_started",
]  # fmt: skip
QUOTE_FIELDS = [
    "name", "email", "phone", "organisation", "learners", "courses", "platform", "delivery",
    "timeframe", "message", "consent", "article", "next", "website", "form_started",
]  # fmt: skip

hostile_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "", "0", "-1", "1", "2", "99999999999999999999999", "1e9", "NaN", "\x00", "on",
            "<script>alert(1)</script>", "' OR 1=1 --", "+44 7911 123456", "ada@example.com",
            "//evil.example", "javascript:alert(1)", "Europe/London", "morning", "on_site",
            "\u202e\u0000\ud7ff", "a" * 5000,
        ]
    ),
)  # fmt: skip


def posts(fields, prefix):
    values = st.one_of(hostile_text, st.lists(hostile_text, max_size=3))
    return st.dictionaries(
        st.sampled_from(fields).map(lambda name: f"{prefix}-{name}"), values, max_size=len(fields)
    )


def assert_every_lead_is_whole():
    for lead in Lead.objects.all():
        assert lead.name and lead.email and lead.consent_text
        keys = set(LeadActivity.objects.filter(lead=lead).values_list("email_key", flat=True))
        assert {f"lead-ack:{lead.pk}", f"lead-notify:{lead.pk}"} <= keys
        assert Email.objects.filter(key=f"lead-ack:{lead.pk}").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "fields", "prefix"),
    [("/contact/", CALLBACK_FIELDS, "callback"), ("/quote/", QUOTE_FIELDS, "quote")],
)
def test_arbitrary_posts_never_crash_or_half_save(catalogue, started, url, fields, prefix):
    client = Client()
    client.raise_request_exception = True

    @settings_(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=posts(fields, prefix), human=st.booleans())
    def run(data, human):
        if human:
            data.setdefault(f"{prefix}-form_started", started)
        response = client.post(url, data)
        assert response.status_code in (200, 302)
        assert_every_lead_is_whole()

    run()


@pytest.mark.django_db
@pytest.mark.parametrize("form", ["callback", "quote"])
def test_valid_posts_with_hostile_fields_store_a_whole_lead_or_nothing(
    request, catalogue, form, settings
):
    """Start from a post a person would send and spoil a few fields at a time, so the storing path
    (not only the validation) meets the hostile values."""
    settings.LEADS_RATE_LIMIT = "100000/m"
    make = request.getfixturevalue(f"{form}_data")
    fields = CALLBACK_FIELDS if form == "callback" else QUOTE_FIELDS
    spoilable = [name for name in fields if name not in ("form_started", "website")]
    client = Client()

    @settings_(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        spoiled=st.dictionaries(st.sampled_from(spoilable), hostile_text, min_size=1, max_size=3)
    )
    def run(spoiled):
        before = Lead.objects.count()
        response = client.post(f"/{'contact' if form == 'callback' else 'quote'}/", make(**spoiled))
        assert response.status_code in (200, 302)
        created = Lead.objects.count() - before
        assert created in (0, 1)
        assert (response.status_code == 302) or created == 0
        assert_every_lead_is_whole()

    run()
