"""Staff working leads in the admin: list, filters, actions, the change form, CSV, personal data."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads import services
from leads.models import Lead, LeadActivity
from skilldacity.outbox.models import Email

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/leads/lead/"
Status = Lead.Status


@pytest.fixture
def make_lead(catalogue):
    counter = iter(range(10_000))

    def make(**fields):
        number = next(counter)
        kind = fields.pop("kind", Lead.Kind.QUOTE)
        lead, _ = services.lead_submit(
            kind=kind,
            fields={
                "name": fields.pop("name", f"Person {number}"),
                "email": fields.pop("email", f"person{number}@example.com"),
                "phone": fields.pop("phone", "+447911123456"),
                "platform": catalogue["platforms"][number % 5],
                "organisation": fields.pop("organisation", ""),
                **fields,
            },
            courses=catalogue["courses"][number % 3 : number % 3 + 2],
            consent_text="I agree",
            attribution={"utm_source": "linkedin"} if number % 2 else {},
            source_path="/quote/" if kind == Lead.Kind.QUOTE else "/contact/",
            article=None,
            ip="127.0.0.1",
        )
        return lead

    return make


@pytest.fixture
def admin_user(admin_user):
    admin_user.email = "admin@skilldacity.example"
    admin_user.save()
    return admin_user


def changelist_queries(client, url=CHANGELIST):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_changelist_runs_a_fixed_number_of_queries_whatever_the_number_of_leads(
    admin_client, make_lead
):
    make_lead()
    admin_client.get(CHANGELIST)  # warm the per-process caches (content types, permissions)
    few = changelist_queries(admin_client)
    for _ in range(40):
        make_lead()
    Lead.objects.update(assigned_to=get_user_model().objects.get())
    many = changelist_queries(admin_client)
    assert few == many
    assert many <= 20


def test_overdue_leads_are_highlighted_and_filterable(admin_client, make_lead):
    late, fresh = make_lead(name="Late Lara"), make_lead(name="Fresh Fred")
    Lead.objects.filter(pk=late.pk).update(contact_due_at=timezone.now() - timedelta(hours=1))

    html = admin_client.get(CHANGELIST).content.decode()
    assert html.count('class="lead-overdue"') == 1
    filtered = admin_client.get(CHANGELIST + "?overdue=yes").content.decode()
    assert "Late Lara" in filtered and "Fresh Fred" not in filtered
    assert fresh.is_overdue is False


def test_filters_and_search_by_phone_in_any_notation(admin_client, make_lead, catalogue):
    make_lead(name="Quote Quinn", organisation="Acme Learning")
    make_lead(name="Call Cara", kind=Lead.Kind.CALLBACK, phone="+442079460018")

    by_kind = admin_client.get(CHANGELIST + "?kind__exact=callback").content.decode()
    assert "Call Cara" in by_kind and "Quote Quinn" not in by_kind
    by_phone = admin_client.get(CHANGELIST + "?q=020+7946+0018").content.decode()
    assert "Call Cara" in by_phone and "Quote Quinn" not in by_phone
    by_org = admin_client.get(CHANGELIST + "?q=acme").content.decode()
    assert "Quote Quinn" in by_org and "Call Cara" not in by_org
    for query in ["status__exact=new", "source=campaign", "created_at__year=2026"]:
        assert admin_client.get(f"{CHANGELIST}?{query}").status_code == 200


def test_assign_to_me_action_records_who_and_when(admin_client, admin_user, make_lead):
    leads = [make_lead(), make_lead()]
    response = admin_client.post(
        CHANGELIST,
        {"action": "assign_to_me", "_selected_action": [lead.pk for lead in leads]},
        follow=True,
    )
    assert "2 lead(s) assigned to you" in response.content.decode()
    assert set(Lead.objects.values_list("assigned_to", flat=True)) == {admin_user.pk}
    activity = leads[0].activities.get(kind=LeadActivity.Kind.ASSIGNED)
    assert activity.actor == admin_user


def test_bulk_status_action_moves_allowed_leads_and_names_the_refused(
    admin_client, admin_user, make_lead
):
    new, contacted = make_lead(), make_lead()
    services.lead_transition(lead_id=contacted.pk, to_status=Status.CONTACTED, actor=admin_user)

    response = admin_client.post(
        CHANGELIST,
        {"action": "mark_quoted", "_selected_action": [new.pk, contacted.pk]},
        follow=True,
    )

    html = response.content.decode()
    assert "1 lead(s) marked quoted" in html
    assert f"#{new.pk} (new)" in html
    assert Lead.objects.get(pk=new.pk).status == Status.NEW
    assert Lead.objects.get(pk=contacted.pk).status == Status.QUOTED


def change_form_data(lead, **overrides):
    data = {
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "organisation": lead.organisation,
        "learners": lead.learners or "",
        "courses": [course.pk for course in lead.courses.all()],
        "platform": lead.platform_id or "",
        "call_time": lead.call_time,
        "call_timezone": lead.call_timezone,
        "delivery": lead.delivery,
        "timeframe": lead.timeframe,
        "message": lead.message,
        "new_status": "",
        "assign_to": lead.assigned_to_id or "",
        "note": "",
    }
    data.update(overrides)
    return data


def test_change_form_offers_only_allowed_steps_and_records_them(
    admin_client, admin_user, make_lead
):
    lead = make_lead()
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    page = admin_client.get(url).content.decode()
    assert '<option value="contacted">' in page and '<option value="won">' not in page
    assert "Lead received" in page and "Acknowledgement to the visitor" in page

    response = admin_client.post(
        url,
        change_form_data(
            lead,
            new_status="contacted",
            assign_to=admin_user.pk,
            note="Called; wants a quote for 12.",
            phone="020 7946 0018",
        ),
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.assigned_to, lead.phone) == (
        Status.CONTACTED,
        admin_user,
        "+442079460018",
    )
    kinds = list(lead.activities.exclude(actor=None).values_list("kind", flat=True))
    assert sorted(kinds) == ["assigned", "note", "status"]
    timeline = admin_client.get(url).content.decode()
    assert "Called; wants a quote for 12." in timeline
    assert "Status New → Contacted" in timeline


def test_change_form_refuses_a_step_the_pipeline_does_not_allow(admin_client, make_lead):
    lead = make_lead()
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    response = admin_client.post(url, change_form_data(lead, new_status="won"))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == Status.NEW


def test_leads_cannot_be_added_or_deleted_in_the_admin(admin_client, make_lead):
    lead = make_lead()
    assert admin_client.get("/admin/leads/lead/add/").status_code == 403
    assert admin_client.get(f"/admin/leads/lead/{lead.pk}/delete/").status_code == 403


def read_csv(response):
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_csv_export_follows_the_changelist_filters(admin_client, make_lead):
    make_lead(name="Quote Quinn")
    make_lead(name='=HYPERLINK("http://evil")', kind=Lead.Kind.CALLBACK)

    everything = read_csv(admin_client.get("/admin/leads/lead/export.csv"))
    callbacks = read_csv(admin_client.get("/admin/leads/lead/export.csv?kind__exact=callback"))

    assert len(everything) == 2
    assert [row["Kind"] for row in callbacks] == ["Callback"]
    assert callbacks[0]["Name"].startswith("'=")  # no formula injection in spreadsheets
    assert callbacks[0]["Phone"] == "'+447911123456"
    assert callbacks[0]["Courses"]
    link = admin_client.get(CHANGELIST + "?kind__exact=callback").content.decode()
    assert 'href="/admin/leads/lead/export.csv?kind__exact=callback"' in link


def test_csv_export_action_exports_the_selection(admin_client, make_lead):
    chosen, _ = make_lead(name="Chosen"), make_lead(name="Other")
    response = admin_client.post(
        CHANGELIST, {"action": "export_selected_csv", "_selected_action": [chosen.pk]}
    )
    assert [row["Name"] for row in read_csv(response)] == ["Chosen"]


def test_personal_data_export_downloads_everything_for_an_address(admin_client, make_lead):
    lead = make_lead(email="ada@example.com")
    make_lead(email="other@example.com")

    response = admin_client.post(
        CHANGELIST, {"action": "export_personal_data", "_selected_action": [lead.pk]}
    )
    assert response.status_code == 302
    page = admin_client.get(response["Location"]).content.decode()
    assert "ada@example.com" in page and "Download everything" in page

    download = admin_client.get(
        reverse("admin:leads_lead_personal_data") + "?email=ada@example.com&format=json"
    )
    assert download["Content-Disposition"].startswith("attachment")
    payload = json.loads(download.content)
    assert [item["email"] for item in payload[0]["leads"]] == ["ada@example.com"]


def test_personal_data_erase_anonymises_and_keeps_counts(admin_client, make_lead):
    make_lead(email="ada@example.com")
    make_lead(email="ada@example.com", kind=Lead.Kind.CALLBACK)
    make_lead(email="other@example.com")

    response = admin_client.post(
        reverse("admin:leads_lead_personal_data"),
        {"email": "ada@example.com", "erase": "1"},
        follow=True,
    )

    assert "from 2 lead(s)" in response.content.decode()
    assert Lead.objects.count() == 3
    assert not Lead.objects.filter(email="ada@example.com").exists()
    assert Lead.objects.filter(anonymised_at__isnull=False).count() == 2
    assert not Email.objects.filter(to="ada@example.com").exists()


def test_erasing_needs_the_delete_permission_and_the_admin_needs_staff(client, make_lead):
    lead = make_lead(email="ada@example.com")
    url = reverse("admin:leads_lead_personal_data")
    assert client.get(url).status_code == 302  # to the login page
    clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_lead", "change_lead"])
    )
    client.force_login(clerk)

    page = client.get(url + "?email=ada@example.com").content.decode()
    assert "Erase these people" not in page
    response = client.post(url, {"email": "ada@example.com", "erase": "1"})
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.email == "ada@example.com"


def test_bad_addresses_on_the_personal_data_page_are_an_error_not_a_crash(admin_client):
    response = admin_client.get(reverse("admin:leads_lead_personal_data") + "?email=not-an-email")
    assert response.status_code == 200
    assert "Enter a valid email address" in response.content.decode()


def test_phone_search_stays_within_the_chosen_filters(admin_client, admin_user, make_lead):
    won = make_lead(name="Won Wendy", phone="+442079460018")
    make_lead(name="New Nina", phone="+442079460018")
    for status in [Status.CONTACTED, Status.QUOTED, Status.WON]:
        services.lead_transition(lead_id=won.pk, to_status=status, actor=admin_user)

    html = admin_client.get(CHANGELIST + "?status__exact=new&q=020+7946+0018").content.decode()

    assert "New Nina" in html and "Won Wendy" not in html


def test_saving_contact_details_does_not_undo_a_status_change_made_meanwhile(
    admin_client, admin_user, make_lead
):
    """Two staff have the same lead open; one marks it contacted, the other fixes a typo."""
    lead = make_lead(name="Ada Lovelave")
    stale_form = change_form_data(lead, name="Ada Lovelace")
    services.lead_transition(lead_id=lead.pk, to_status=Status.CONTACTED, actor=admin_user)

    admin_client.post(reverse("admin:leads_lead_change", args=[lead.pk]), stale_form)

    lead.refresh_from_db()
    assert (lead.name, lead.status) == ("Ada Lovelace", Status.CONTACTED)


def test_change_page_queries_do_not_grow_with_the_timeline(admin_client, admin_user, make_lead):
    lead = make_lead()
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    admin_client.get(url)  # warm the per-process caches (content types, permissions)
    short = changelist_queries(admin_client, url)
    for number in range(30):
        services.lead_add_note(lead_id=lead.pk, actor=admin_user, text=f"Call {number}")
    assert changelist_queries(admin_client, url) == short
