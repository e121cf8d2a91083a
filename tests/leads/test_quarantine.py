"""A post judged spam is kept in quarantine, not dropped: staff can release a real person's lead.

Browsers' autofill and password managers fill hidden fields too, so a honeypot (or a fast hand,
or a busy office behind one IP) is a guess; the visitor is thanked as usual either way.
"""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from leads.models import Course, Lead
from skilldacity.outbox.models import Email
from skilldacity.quarantine.models import QuarantinedPost
from skilldacity.spam import form_started_token

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:quarantine_quarantinedpost_changelist")
LEADS_CHANGELIST = reverse("admin:leads_lead_changelist")


def release_url(post):
    return reverse("admin:quarantine_quarantinedpost_release", args=[post.pk])


@pytest.mark.parametrize(
    ("spam", "reason"),
    [
        ({"website": "https://ada.example"}, "honeypot"),
        ({"form_started": "forged"}, "bad-timestamp"),
    ],
)
def test_a_post_judged_spam_is_thanked_and_kept_in_quarantine_without_e_mail(
    client, callback_data, mailoutbox, django_capture_on_commit_callbacks, spam, reason
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/contact/", callback_data(**spam), REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 302
    assert response["Location"].startswith("/contact/thanks/")
    post = QuarantinedPost.objects.get()
    assert (post.form, post.reason, post.ip) == ("callback", reason, "203.0.113.9")
    assert post.payload["callback-email"] == ["ada@example.com"]
    assert post.payload["callback-phone"] == ["07911 123456"]
    assert "callback-form_started" not in post.payload
    assert post.contact == "ada@example.com"
    assert Lead.objects.count() == 0
    assert Email.objects.count() == 0
    assert mailoutbox == []


def test_a_form_posted_faster_than_a_human_can_is_kept_as_too_fast(client, callback_data, settings):
    settings.FORM_MIN_FILL_SECONDS = 60  # far above a loaded machine's delay
    response = client.post("/contact/", callback_data(form_started=form_started_token()))
    assert response.status_code == 302
    assert QuarantinedPost.objects.get().reason == "too-fast"
    assert Lead.objects.count() == 0


def test_over_the_rate_limit_the_post_is_thanked_and_kept_for_review(
    client, callback_data, settings
):
    settings.LEADS_RATE_LIMIT = "5/m"
    for number in range(5):
        response = client.post("/contact/", callback_data(email=f"ada{number}@example.com"))
        assert response.status_code == 302

    response = client.post("/contact/", callback_data(email="ada5@example.com"))

    assert response.status_code == 302
    assert response["Location"].startswith("/contact/thanks/")
    assert Lead.objects.count() == 5
    post = QuarantinedPost.objects.get()
    assert (post.reason, post.contact) == ("rate-limited", "ada5@example.com")


def test_quarantined_posts_stay_out_of_the_leads_pipeline(admin_client, callback_data):
    admin_client.post("/contact/", callback_data(website="autofilled", name="Hidden Person"))

    assert QuarantinedPost.objects.count() == 1
    assert "Hidden Person" not in admin_client.get(LEADS_CHANGELIST).content.decode()
    assert admin_client.get(reverse("insights:dashboard")).status_code == 200


def test_staff_release_a_callback_in_one_click_and_it_becomes_a_lead_mailed_once(
    client, admin_client, callback_data, mailoutbox, django_capture_on_commit_callbacks
):
    client.post("/contact/", callback_data(website="https://ada.example"), REMOTE_ADDR="::1")
    post = QuarantinedPost.objects.get()

    listing = admin_client.get(CHANGELIST).content.decode()
    assert "ada@example.com" in listing
    assert "ada@example.com" in admin_client.get(CHANGELIST, {"q": "ADA@example"}).content.decode()
    assert "ada@example.com" in admin_client.get(CHANGELIST, {"q": "::1"}).content.decode()
    assert f'formaction="{release_url(post)}"' in listing
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(release_url(post))
        again = admin_client.post(release_url(post))  # a double click

    assert response.status_code == again.status_code == 302
    lead = Lead.objects.get()
    assert (lead.kind, lead.email, lead.phone, lead.ip) == (
        "callback",
        "ada@example.com",
        "+447911123456",
        "::1",
    )
    assert lead.source_path == "/contact/"
    assert sorted(m.to[0] for m in mailoutbox) == ["ada@example.com", "leads@skilldacity.example"]
    post.refresh_from_db()
    assert post.released_at is not None
    assert post.released_by.username == "admin"
    assert post.release_result == f"lead {lead.pk}"
    assert f"lead {lead.pk}" in admin_client.get(CHANGELIST).content.decode()


def test_a_released_quote_keeps_every_course(
    client, admin_client, quote_data, catalogue, django_capture_on_commit_callbacks
):
    client.post("/quote/", quote_data(website="x"))
    post = QuarantinedPost.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(CHANGELIST, {"action": "release_selected", "_selected_action": [post.pk]})

    lead = Lead.objects.get()
    assert lead.kind == "quote"
    assert sorted(lead.courses.values_list("pk", flat=True)) == [
        catalogue["courses"][0].pk,
        catalogue["courses"][2].pk,
    ]
    assert Email.objects.filter(key=f"lead-ack:{lead.pk}").count() == 1


def test_a_post_that_no_longer_validates_is_not_released_and_staff_are_told_why(
    client, admin_client, callback_data, catalogue
):
    client.post("/contact/", callback_data(website="x"))
    for course in Course.objects.all():  # as staff would, in the admin
        course.active = False
        course.save()
    post = QuarantinedPost.objects.get()

    response = admin_client.post(release_url(post), follow=True)

    assert "was not released" in response.content.decode()
    assert Lead.objects.count() == 0
    post.refresh_from_db()
    assert post.released_at is None


def test_only_staff_who_may_change_quarantined_posts_can_release(client, callback_data):
    client.post("/contact/", callback_data(website="x"))
    post = QuarantinedPost.objects.get()
    assert client.post(release_url(post)).status_code == 302  # to the admin sign-in
    assert Lead.objects.count() == 0


def test_a_flood_from_one_ip_keeps_only_its_share(client, callback_data, settings):
    settings.QUARANTINE_MAX_PER_IP = 3
    for number in range(8):
        response = client.post(
            "/contact/",
            callback_data(website="spam", email=f"bot{number}@example.com"),
            REMOTE_ADDR="198.51.100.7",
        )
        assert response.status_code == 302
    client.post("/contact/", callback_data(website="x"), REMOTE_ADDR="198.51.100.8")

    assert QuarantinedPost.objects.filter(ip="198.51.100.7").count() == 3
    assert QuarantinedPost.objects.filter(ip="198.51.100.8").count() == 1


def test_the_ip_share_is_per_window(client, callback_data, settings):
    settings.QUARANTINE_MAX_PER_IP = 1
    client.post("/contact/", callback_data(website="x"))
    QuarantinedPost.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    client.post("/contact/", callback_data(website="x"))
    assert QuarantinedPost.objects.count() == 2


def test_quarantined_posts_are_purged_after_the_retention_period(client, callback_data, settings):
    settings.QUARANTINE_RETENTION_DAYS = 30
    client.post("/contact/", callback_data(website="x", email="old@example.com"))
    client.post("/contact/", callback_data(website="x", email="new@example.com"))
    old = QuarantinedPost.objects.order_by("pk").first()
    QuarantinedPost.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))

    call_command("quarantine_purge")

    assert [post.contact for post in QuarantinedPost.objects.all()] == ["new@example.com"]


def test_the_purge_runs_daily_from_celery_beat(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "skilldacity.quarantine.tasks.purge_quarantine" in tasks


def test_a_course_deleted_by_another_process_is_not_released_from_this_ones_memory(
    client, admin_client, callback_data, catalogue
):
    from django.db import connection

    from leads.forms import ACTIVE_COURSES

    course = catalogue["courses"][0]
    client.post("/contact/", callback_data(website="x"))
    assert ACTIVE_COURSES.get(course.pk) == course  # this process has read it
    with connection.cursor() as cursor:  # deleted elsewhere: no signal reaches this process
        through = Course.platforms.through._meta.db_table
        cursor.execute(f"DELETE FROM {through} WHERE course_id = %s", [course.pk])  # noqa: S608
        cursor.execute("DELETE FROM leads_course WHERE id = %s", [course.pk])

    response = admin_client.post(release_url(QuarantinedPost.objects.get()), follow=True)

    assert "was not released" in response.content.decode()
    assert Lead.objects.count() == 0
