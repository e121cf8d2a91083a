"""The outbox admin: what staff see and can do."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from skilldacity.outbox.models import Email

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:outbox_email_changelist")


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-staff-1")
    client.force_login(user)
    return client


def make_email(key, **fields):
    fields.setdefault("to", "ada@example.com")
    fields.setdefault("template", "test_message")
    fields.setdefault("context", {"name": "Ada"})
    return Email.objects.create(key=key, **fields)


def test_changelist_runs_a_fixed_number_of_queries(staff_client, django_assert_max_num_queries):
    for i in range(3):
        make_email(f"a:{i}")
    with django_assert_max_num_queries(8) as few:
        assert staff_client.get(CHANGELIST).status_code == 200
    for i in range(3, 40):
        make_email(f"a:{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert staff_client.get(CHANGELIST).status_code == 200


def test_failed_email_shows_its_error_and_filters_by_status(staff_client):
    make_email("a:1", status=Email.Status.FAILED, last_error="SMTPDataError: (550, 'Mailbox gone')")
    make_email("a:2", to="bob@example.com", status=Email.Status.SENT, sent_at=timezone.now())
    page = staff_client.get(CHANGELIST, {"status__exact": "failed"}).content.decode()
    assert "Mailbox gone" in page
    assert "ada@example.com" in page and "bob@example.com" not in page


def test_search_by_recipient(staff_client):
    make_email("a:1", to="grace@example.com")
    make_email("a:2", to="bob@example.com")
    page = staff_client.get(CHANGELIST, {"q": "grace"}).content.decode()
    assert "grace@example.com" in page and "bob@example.com" not in page


def test_change_page_shows_rendered_message_escaped_and_html_in_a_sandbox(staff_client):
    email = make_email(
        "a:1",
        context={"name": "<script>alert(1)</script>"},
        headers={"List-Unsubscribe": "<https://skilldacity.example/u/x/>"},
    )
    page = staff_client.get(reverse("admin:outbox_email_change", args=[email.pk])).content.decode()
    assert "A test message from Skilldacity" in page
    assert "List-Unsubscribe" in page
    assert "<script>alert(1)</script>" not in page
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;," in page
    preview_url = reverse("admin:outbox_email_preview", args=[email.pk])
    assert f'<iframe sandbox src="{preview_url}"' in page
    assert 'name="_save"' not in page, "nothing to save: the row is a record"


def test_preview_is_served_under_its_own_locked_down_policy(staff_client):
    email = make_email("a:1", context={"name": "<img src=x onerror=alert(1)>"})
    response = staff_client.get(reverse("admin:outbox_email_preview", args=[email.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and "<img src=x" not in body
    policy = response["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_preview_of_an_unrenderable_email_shows_the_error(staff_client):
    email = make_email("a:1", template="gone")
    page = staff_client.get(reverse("admin:outbox_email_change", args=[email.pk])).content.decode()
    assert "This e-mail cannot be rendered: TemplateDoesNotExist" in page


def test_preview_needs_staff(client):
    email = make_email("a:1")
    response = client.get(reverse("admin:outbox_email_preview", args=[email.pk]))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_retry_now_action_sends_failed_email(
    staff_client, mailoutbox, django_capture_on_commit_callbacks
):
    failed = make_email("a:1", status=Email.Status.FAILED, attempts=8, last_error="550")
    sent = make_email("a:2", status=Email.Status.SENT, sent_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST,
            {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )
    page = response.content.decode()
    assert "1 e-mail(s) handed out to send now." in page
    assert "1 left alone: already sent, cancelled or being sent." in page
    failed.refresh_from_db()
    assert failed.status == Email.Status.SENT
    assert len(mailoutbox) == 1


def test_cancel_action_cancels_only_pending(staff_client, mailoutbox):
    later = make_email("a:1", send_after=timezone.now() + timedelta(days=2))
    sent = make_email("a:2", status=Email.Status.SENT, sent_at=timezone.now())
    response = staff_client.post(
        CHANGELIST, {"action": "cancel", "_selected_action": [later.pk, sent.pk]}, follow=True
    )
    assert "1 e-mail(s) cancelled." in response.content.decode()
    later.refresh_from_db()
    sent.refresh_from_db()
    assert (later.status, sent.status) == (Email.Status.CANCELLED, Email.Status.SENT)
