"""The pipeline, the timeline, reminders, follow-ups and personal data, through the services."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from leads import services, tasks
from leads.models import Lead, LeadActivity
from leads.workdays import add_working_days
from referrals.models import KnownEmail
from skilldacity.outbox.models import Email

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
Status = Lead.Status


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(
        "sam", "sam@skilldacity.example", "pw", is_staff=True
    )


@pytest.fixture
def colleague(db):
    return get_user_model().objects.create_user(
        "kim", "kim@skilldacity.example", "pw", is_staff=True
    )


@pytest.fixture
def make_lead(catalogue):
    def make(email="ada@example.com", kind=Lead.Kind.QUOTE, **fields):
        lead, created = services.lead_submit(
            kind=kind,
            fields={
                "name": "Ada Lovelace",
                "email": email,
                "phone": "+447911123456",
                "platform": catalogue["platforms"][0],
                "message": fields.pop("message", ""),
                **fields,
            },
            courses=catalogue["courses"][:1],
            consent_text="I agree",
            attribution={},
            source_path="/quote/",
            article=None,
            ip="127.0.0.1",
        )
        assert created
        return lead

    return make


@pytest.mark.parametrize(
    ("sent", "due"),
    [
        (datetime(2026, 11, 24, 10, 0), datetime(2026, 11, 25, 10, 0)),  # Tuesday -> Wednesday
        (datetime(2026, 11, 27, 15, 0), datetime(2026, 11, 30, 15, 0)),  # Friday -> Monday
        (datetime(2026, 11, 28, 10, 0), datetime(2026, 12, 1, 0, 0)),  # Saturday -> end of Monday
        (datetime(2026, 11, 29, 23, 0), datetime(2026, 12, 1, 0, 0)),  # Sunday night -> same
    ],
)
def test_one_working_day_skips_the_weekend(sent, due):
    result = add_working_days(sent.replace(tzinfo=LONDON), 1)
    assert result.replace(tzinfo=None) == due


def test_each_allowed_step_of_the_pipeline_is_on_the_timeline(make_lead, staff):
    lead = make_lead()
    for status in [Status.CONTACTED, Status.QUOTED, Status.WON]:
        services.lead_transition(lead_id=lead.pk, to_status=status, actor=staff)

    lead.refresh_from_db()
    assert lead.status == Status.WON
    assert lead.contacted_at is not None and lead.closed_at is not None
    steps = list(
        lead.activities.filter(kind=LeadActivity.Kind.STATUS).values_list(
            "from_status", "to_status", "actor__username"
        )
    )
    assert steps == [
        ("new", "contacted", "sam"),
        ("contacted", "quoted", "sam"),
        ("quoted", "won", "sam"),
    ]


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], Status.QUOTED),  # new can't skip contacting
        ([], Status.WON),
        ([Status.CONTACTED, Status.QUOTED, Status.WON], Status.LOST),  # won is final
        ([Status.CONTACTED, Status.QUOTED], Status.SPAM),
        ([Status.SPAM], Status.CONTACTED),  # spam only goes back to new
    ],
)
def test_transitions_outside_the_pipeline_are_refused(make_lead, staff, path, refused):
    lead = make_lead()
    for status in path:
        services.lead_transition(lead_id=lead.pk, to_status=status, actor=staff)
    before = lead.activities.count()

    with pytest.raises(services.TransitionNotAllowed):
        services.lead_transition(lead_id=lead.pk, to_status=refused, actor=staff)

    lead.refresh_from_db()
    assert lead.status == (path[-1] if path else Status.NEW)
    assert lead.activities.count() == before


def test_quoting_schedules_a_follow_up_that_moving_on_cancels(make_lead, staff, settings):
    settings.LEADS_FOLLOWUP_DAYS = 4
    lead = make_lead()
    services.lead_transition(lead_id=lead.pk, to_status=Status.CONTACTED, actor=staff)
    services.lead_transition(lead_id=lead.pk, to_status=Status.QUOTED, actor=staff)

    followup = Email.objects.get(key__startswith=f"lead-followup:{lead.pk}:")
    assert followup.status == Email.Status.PENDING
    assert followup.to == "ada@example.com"
    assert timedelta(days=3, hours=23) < followup.send_after - timezone.now() <= timedelta(days=4)

    services.lead_transition(lead_id=lead.pk, to_status=Status.LOST, actor=staff)
    followup.refresh_from_db()
    assert followup.status == Email.Status.CANCELLED


def test_a_follow_up_still_open_after_the_delay_is_sent(
    make_lead, staff, mailoutbox, django_capture_on_commit_callbacks
):
    lead = make_lead()
    services.lead_transition(lead_id=lead.pk, to_status=Status.CONTACTED, actor=staff)
    services.lead_transition(lead_id=lead.pk, to_status=Status.QUOTED, actor=staff)
    mailoutbox.clear()
    from skilldacity.outbox.services import outbox_sweep

    # Three days pass.
    Email.objects.filter(key__startswith="lead-followup:").update(
        send_after=timezone.now() - timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        outbox_sweep()
    followups = [m for m in mailoutbox if m.subject.startswith("Any questions about your")]
    assert len(followups) == 1
    assert followups[0].to == ["ada@example.com"]


def test_assigning_to_a_colleague_emails_them_and_assign_to_self_does_not(
    make_lead, staff, colleague
):
    lead = make_lead()
    services.lead_assign(lead_id=lead.pk, assignee=staff, actor=staff)
    assert not Email.objects.filter(to=staff.email).exists()

    services.lead_assign(lead_id=lead.pk, assignee=colleague, actor=staff)
    notice = Email.objects.get(to=colleague.email)
    assert notice.template == "lead_assigned"
    assert notice.context["admin_path"] == f"/admin/leads/lead/{lead.pk}/change/"
    texts = list(lead.activities.filter(kind="assigned").values_list("text", flat=True))
    assert texts == ["Assigned to sam", "Assigned to kim"]


def test_notes_need_text_and_carry_the_author(make_lead, staff):
    lead = make_lead()
    services.lead_add_note(lead_id=lead.pk, actor=staff, text="  Called, no answer.  ")
    with pytest.raises(services.ValidationError):
        services.lead_add_note(lead_id=lead.pk, actor=staff, text="   ")
    note = lead.activities.get(kind="note")
    assert (note.text, note.actor) == ("Called, no answer.", staff)


def test_overdue_reminders_go_to_the_assignee_once_a_day(make_lead, staff, settings):
    settings.STAFF_NOTIFICATION_EMAIL = "inbox@skilldacity.example"
    assigned, unassigned, contacted = make_lead("a@x.example"), make_lead("b@x.example"), None
    contacted = make_lead("c@x.example")
    services.lead_assign(lead_id=assigned.pk, assignee=staff, actor=staff)
    services.lead_transition(lead_id=contacted.pk, to_status=Status.CONTACTED, actor=staff)
    later = timezone.now() + timedelta(days=5)

    assert tasks.remind_overdue_leads.apply(kwargs={}).get() == 0  # nothing overdue yet
    assert services.leads_remind_overdue(now=later) == 2
    assert services.leads_remind_overdue(now=later + timedelta(minutes=30)) == 0

    reminders = Email.objects.filter(template="lead_overdue")
    assert sorted(reminders.values_list("to", flat=True)) == [
        "inbox@skilldacity.example",
        "sam@skilldacity.example",
    ]
    assert unassigned.activities.filter(email_key__startswith="lead-overdue:").count() == 1
    assert services.leads_remind_overdue(now=later + timedelta(days=1)) == 2  # the next day


def test_erasing_a_person_anonymises_their_leads_and_keeps_the_counts(
    make_lead, staff, django_capture_on_commit_callbacks
):
    first = make_lead(message="Call me on my mobile")
    second = make_lead(email="ADA@example.com", kind=Lead.Kind.CALLBACK, call_time="morning")
    other = make_lead(email="grace@example.com")
    services.lead_add_note(lead_id=first.pk, actor=staff, text="Her husband is Lord Lovelace")

    erased = services.person_erase(email="ada@example.com", actor=staff)

    assert erased == 2
    assert Lead.objects.count() == 3
    for lead in Lead.objects.filter(pk__in=[first.pk, second.pk]):
        assert (lead.name, lead.email, lead.phone, lead.message) == ("(erased)", "", "", "")
        assert lead.ip is None and lead.anonymised_at is not None
        assert lead.kind and lead.status == Status.NEW and lead.courses.exists()
        assert lead.activities.filter(kind="erased", actor=staff).exists()
    assert not LeadActivity.objects.filter(text__contains="Lovelace").exists()
    assert not Email.objects.filter(to__iexact="ada@example.com").exists()
    assert not Email.objects.filter(context__name="Ada Lovelace", key__contains=f":{first.pk}")
    assert not KnownEmail.objects.filter(email="ada@example.com").exists()
    other.refresh_from_db()
    assert other.email == "grace@example.com"
    assert services.person_export(email="ada@example.com")["leads"] == []


def test_export_holds_everything_about_an_address(make_lead, staff):
    lead = make_lead()
    services.lead_add_note(lead_id=lead.pk, actor=staff, text="Asked for a discount")
    make_lead(email="someone-else@example.com")

    exported = services.person_export(email="Ada@Example.com ")

    assert [item["id"] for item in exported["leads"]] == [lead.pk]
    item = exported["leads"][0]
    assert item["phone"] == "+447911123456"
    assert item["courses"] and item["platform"]
    assert any(entry["text"] == "Asked for a discount" for entry in item["timeline"])
    assert {mail["key"] for mail in exported["emails"]} >= {f"lead-ack:{lead.pk}"}


def test_leads_past_the_retention_period_are_anonymised_by_the_daily_task(make_lead, settings):
    settings.LEADS_RETENTION_DAYS = 365
    old, recent = make_lead("old@example.com"), make_lead("new@example.com")
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=366))

    assert tasks.anonymise_expired_leads.apply().get() == 1
    assert tasks.anonymise_expired_leads.apply().get() == 0

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.email == "" and old.anonymised_at is not None
    assert recent.email == "new@example.com"
