"""Leads on real parts: PostgreSQL, Redis (cache and broker), a Celery worker, SMTP."""

import threading
import time

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leads.demo import seed_catalogue
from leads.models import Course, DevicePlatform, Lead
from skilldacity.outbox.models import Email
from skilldacity.outbox.services import WAKE_KEY
from skilldacity.quarantine.models import QuarantinedPost
from skilldacity.spam import form_started_token


def callback_post(**overrides):
    course = Course.objects.order_by("pk").first()
    platform = DevicePlatform.objects.order_by("pk").first()
    data = {
        "name": "Ada Lovelace",
        "phone": "07911 123456",
        "email": "ada@example.com",
        "course": str(course.pk),
        "platform": str(platform.pk),
        "call_time": "morning",
        "call_timezone": "Europe/London",
        "message": "",
        "consent": "on",
        "form_started": form_started_token(now=time.time() - 10),
        "next": "/contact/",
    }
    data.update(overrides)
    return {f"callback-{key}": value for key, value in data.items()}


@pytest.fixture
def generous_rate_limit(settings):
    settings.LEADS_RATE_LIMIT = "1000/m"


def test_a_lead_reaches_the_visitor_and_the_staff_inbox_exactly_once(
    celery_worker, live_broker, smtp_server, settings, generous_rate_limit
):
    settings.STAFF_NOTIFICATION_EMAIL = "leads@skilldacity.example"
    seed_catalogue()

    response = Client().post("/contact/", callback_post())

    assert response.status_code == 302
    lead = Lead.objects.get()
    received = smtp_server.inbox.wait_for(2, timeout=30)
    assert len(received) == 2, celery_worker.log()
    smtp_server.inbox.wait_for(3, timeout=2)  # nothing more arrives
    assert sorted(message["To"] for message in smtp_server.inbox.messages) == [
        "ada@example.com",
        "leads@skilldacity.example",
    ]
    staff = smtp_server.inbox.to("leads@skilldacity.example")[0]
    body = staff.get_body(("plain",)).get_content()
    assert f"{settings.SITE_URL}/admin/leads/lead/{lead.pk}/change/" in body
    statuses = set(Email.objects.values_list("status", flat=True))
    assert statuses == {Email.Status.SENT}


def test_identical_concurrent_posts_make_one_lead(transactional_db, generous_rate_limit):
    """Eight browsers post the same request at the same moment (a double-click, a retry): the
    advisory lock queues them, and all but the first find the first lead."""
    seed_catalogue()
    data = callback_post()
    barrier = threading.Barrier(8)
    statuses, errors = [], []

    def post():
        try:
            barrier.wait(timeout=10)
            statuses.append(Client().post("/contact/", data).status_code)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert statuses == [302] * 8
    assert Lead.objects.count() == 1
    assert Email.objects.filter(template="lead_ack").count() == 1


def test_rate_limit_is_counted_in_redis_across_clients(db, settings):
    settings.LEADS_RATE_LIMIT = "3/m"
    seed_catalogue()
    assert "redis" in settings.CACHES["default"]["BACKEND"].lower()
    codes = [
        Client().post("/contact/", callback_post(email=f"p{n}@example.com")).status_code
        for n in range(4)
    ]
    assert codes == [302, 302, 302, 302]
    assert Lead.objects.count() == 3
    assert QuarantinedPost.objects.get().reason == "rate-limited"
    cache.clear()


@pytest.mark.parametrize(
    "hostile",
    [
        {"course": "99999999999999999999999"},
        {"platform": "-99999999999999999999999"},
        {"article": "9223372036854775808"},
        {"name": "Ada\x00Lovelace"},
        {"call_timezone": "Europe/London\x00"},
    ],
)
def test_values_postgresql_would_refuse_are_form_errors_or_ignored(
    db, hostile, generous_rate_limit
):
    seed_catalogue()
    client = Client()
    client.raise_request_exception = True
    response = client.post("/contact/", callback_post(**hostile))
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert Lead.objects.count() == 0


def test_a_post_is_a_fixed_small_number_of_statements_and_at_most_one_broker_publish(
    db, generous_rate_limit, live_broker, django_capture_on_commit_callbacks
):
    """Issue 14: the acknowledgement and the staff notice wake the senders in one publish, after
    commit, and the posts that follow while that wake-up waits for a worker publish nothing;
    no savepoints, no referral lookups for a visitor without a referral code (24 statements and
    2 publishes before; then 10; then 9; then 6; 4 now: the savepoint and its release (the
    test's transaction), the advisory lock, dedupe check and the new lead's id together, and the
    lead with its course, timeline and e-mails together; none for a known-address row, the lead
    being its own record of its sender, none for the dashboard's tally, which its job counts
    later, and none for the course and platform, which come from this process's recent copy of
    the catalogue)."""
    from celery.signals import before_task_publish

    seed_catalogue()
    client = Client()
    published = []

    def count_publish(sender=None, body=None, **kwargs):
        published.append((sender, list(body[0]) if body else None))

    def count(email, *, woken=False):
        data = callback_post(email=email)
        published.clear()
        if not woken:
            cache.delete(WAKE_KEY)  # as a worker starting the hand-out does
        with (
            django_capture_on_commit_callbacks(execute=True),
            CaptureQueriesContext(connection) as queries,
        ):
            assert client.post("/contact/", data).status_code == 302
        return len(queries)

    before_task_publish.connect(count_publish)
    try:
        client.post("/contact/", callback_post(email="first@example.com"))  # reads the catalogue
        first = count("one@example.com")
        for number in range(30):
            client.post("/contact/", callback_post(email=f"bulk{number}@example.com"))
        assert count("two@example.com") == first == 4
    finally:
        before_task_publish.disconnect(count_publish)
    lead = Lead.objects.get(email="two@example.com")
    keys = dict(Email.objects.filter(key__endswith=f":{lead.pk}").values_list("pk", "key"))
    assert sorted(keys.values()) == [f"lead-ack:{lead.pk}", f"lead-notify:{lead.pk}"]
    assert set(Email.objects.filter(pk__in=keys).values_list("queued_at", flat=True)) == {None}
    assert published == [("skilldacity.outbox.tasks.hand_out_waiting", [])]

    before_task_publish.connect(count_publish)
    try:
        assert count("three@example.com", woken=True) == 4
    finally:
        before_task_publish.disconnect(count_publish)
    assert published == [], "a post published while a wake-up was still on its way"
    # Nobody consumes these here; the rows are rolled back with the test anyway.
    live_broker.control.purge()


def test_posted_leads_and_leads_made_elsewhere_share_one_sequence_of_ids(db, generous_rate_limit):
    """A post reserves its lead's id from the table's sequence beside the dedupe check (one round
    trip), then inserts the lead with it. A lead made through the ORM (the demo content, the admin
    shell) takes its id from the same sequence, so neither ever collides with the other; and a
    duplicate post's reserved id is a gap, not a row."""
    seed_catalogue()
    client = Client()
    assert client.post("/contact/", callback_post(email="one@example.com")).status_code == 302
    posted = Lead.objects.get(email="one@example.com")
    made = Lead.objects.create(
        kind=Lead.Kind.CALLBACK,
        name="Made",
        email="made@example.com",
        contact_due_at=timezone.now(),
    )
    client.post("/contact/", callback_post(email="one@example.com"))  # a duplicate: no new row
    assert client.post("/contact/", callback_post(email="two@example.com")).status_code == 302
    again = Lead.objects.get(email="two@example.com")

    assert posted.pk < made.pk < again.pk
    assert Lead.objects.count() == 3
    assert again.courses.count() == 1
    assert list(again.activities.values_list("email_key", flat=True).order_by("pk")) == [
        "",
        f"lead-ack:{again.pk}",
        f"lead-notify:{again.pk}",
    ]
