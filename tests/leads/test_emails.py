"""Every lead e-mail renders, escapes what visitors typed, and links absolutely to the admin."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from leads import services
from leads.models import Lead
from skilldacity.outbox.models import Email
from skilldacity.outbox.services import render_email

pytestmark = pytest.mark.django_db
HOSTILE_NAME = '<script>alert("x")</script> O\'Brien'


@pytest.fixture
def worked_lead(catalogue):
    sam = get_user_model().objects.create_user("sam", "sam@skilldacity.example", is_staff=True)
    kim = get_user_model().objects.create_user("kim", "kim@skilldacity.example", is_staff=True)
    lead, _ = services.lead_submit(
        kind=Lead.Kind.QUOTE,
        fields={
            "name": HOSTILE_NAME,
            "email": "ob@example.com",
            "phone": "",
            "platform": catalogue["platforms"][0],
            "organisation": "<b>Acme</b>",
            "learners": 3,
            "message": "Line one\nLine two <img src=x onerror=alert(1)>",
        },
        courses=catalogue["courses"][:2],
        consent_text="I agree",
        attribution={},
        source_path="/quote/",
        article=None,
        ip=None,
    )
    services.lead_assign(lead_id=lead.pk, assignee=kim, actor=sam)
    services.lead_transition(lead_id=lead.pk, to_status="contacted", actor=sam)
    services.lead_transition(lead_id=lead.pk, to_status="quoted", actor=sam)
    Lead.objects.filter(pk=lead.pk).update(status="new")  # make it overdue for the reminder
    Lead.objects.filter(pk=lead.pk).update(contact_due_at=timezone.now() - timedelta(hours=1))
    services.leads_remind_overdue()
    return lead


def test_every_lead_email_renders_safely_with_absolute_admin_links(worked_lead, settings):
    templates = set(Email.objects.values_list("template", flat=True))
    assert templates == {
        "lead_ack",
        "lead_staff_new",
        "lead_assigned",
        "lead_followup",
        "lead_overdue",
    }
    admin_link = f"{settings.SITE_URL}/admin/leads/lead/{worked_lead.pk}/change/"
    for email in Email.objects.all():
        subject, text, html = render_email(email)
        assert subject and "\n" not in subject
        assert "<script>" not in html and "<img src=x" not in html and "<b>Acme" not in html
        if email.template in {"lead_staff_new", "lead_assigned", "lead_overdue"}:
            assert admin_link in text and f'href="{admin_link}"' in html
        if email.template in {"lead_ack", "lead_staff_new"}:
            assert HOSTILE_NAME in text  # plain text is not HTML-escaped
            assert "O&#x27;Brien" in html
