import re

import pytest
from django.contrib.auth import get_user_model

from newsletter import services
from newsletter.models import ApiKey, DiscountCode, Issue
from tests.newsletter.conftest import IssueFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser(
        "editor", "editor@skilldacity.example", "pw-for-tests-only"
    )
    client.force_login(user)
    client.user = user
    return client


@pytest.mark.parametrize("model", ["subscriber", "discountcode", "apikey", "issue"])
def test_changelists_run_a_fixed_number_of_queries(
    staff_client, model, django_assert_max_num_queries
):
    def fill(count):
        for _ in range(count):
            subscriber = SubscriberFactory()
            services.code_issue(subscriber=subscriber)
            services.apikey_create(name=f"shop {subscriber.pk}")
            issue = IssueFactory()
            services.issue_start_send(issue_id=issue.pk)

    fill(2)
    with django_assert_max_num_queries(40) as few:
        assert staff_client.get(f"/admin/newsletter/{model}/").status_code == 200
    fill(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert staff_client.get(f"/admin/newsletter/{model}/").status_code == 200


def test_creating_an_api_key_shows_it_once_and_stores_its_hash(staff_client):
    response = staff_client.post("/admin/newsletter/apikey/add/", {"name": "Shop"}, follow=True)
    shown = re.search(r"(skd_[A-Za-z0-9_\-]+)", response.content.decode()).group(1)
    assert services.apikey_authenticate(raw=shown) == ApiKey.objects.get()
    again = staff_client.get(f"/admin/newsletter/apikey/{ApiKey.objects.get().pk}/change/")
    assert shown not in again.content.decode()


def test_subscribers_export_as_csv(staff_client):
    subscribers = SubscriberFactory.create_batch(3)
    response = staff_client.post(
        "/admin/newsletter/subscriber/",
        {"action": "export_csv", "_selected_action": [s.pk for s in subscribers]},
    )
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("email,first_name,status,source")
    assert len(lines) == 4
    assert all(s.email in body for s in subscribers)


def test_staff_find_a_code_in_any_case_and_mark_it_redeemed(staff_client):
    code = services.code_issue(subscriber=SubscriberFactory())
    listing = staff_client.get("/admin/newsletter/discountcode/", {"q": code.code.lower()})
    assert code.code in listing.content.decode()
    response = staff_client.post(
        "/admin/newsletter/discountcode/",
        {"action": "mark_redeemed", "_selected_action": [code.pk]},
        follow=True,
    )
    assert f"{code.code}: redeemed" in response.content.decode()
    code.refresh_from_db()
    assert code.redeemed_by == staff_client.user
    again = staff_client.post(
        "/admin/newsletter/discountcode/",
        {"action": "mark_redeemed", "_selected_action": [code.pk]},
        follow=True,
    )
    assert f"{code.code}: already redeemed" in again.content.decode()


def test_staff_test_then_send_and_watch_progress(
    staff_client, mailoutbox, django_capture_on_commit_callbacks
):
    SubscriberFactory.create_batch(3)
    issue = IssueFactory()
    change = staff_client.get(f"/admin/newsletter/issue/{issue.pk}/change/").content.decode()
    assert "Send a test to myself" in change

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(f"/admin/newsletter/issue/{issue.pk}/send-test/")
    assert [m.to for m in mailoutbox] == [["editor@skilldacity.example"]]

    confirm = staff_client.get(f"/admin/newsletter/issue/{issue.pk}/send/")
    assert "Send to 3 subscribers" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(f"/admin/newsletter/issue/{issue.pk}/send/")
    response = staff_client.get(f"/admin/newsletter/issue/{issue.pk}/send/")
    assert "3 / 3" in response.content.decode()
    assert len(mailoutbox) == 4
    assert Issue.objects.get().status == Issue.Status.SENT
    listing = staff_client.get("/admin/newsletter/issue/").content.decode()
    assert "3 / 3" in listing
    # Once sent, the issue cannot be edited.
    staff_client.post(f"/admin/newsletter/issue/{issue.pk}/change/", {"subject": "Changed"})
    assert Issue.objects.get().subject == "November at Skilldacity"


def test_the_admin_is_staff_only(client):
    issue = IssueFactory()
    response = client.post(f"/admin/newsletter/issue/{issue.pk}/send/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert Issue.objects.get().status == Issue.Status.DRAFT
    assert not DiscountCode.objects.exists()


def test_codes_filter_by_status(staff_client):
    from django.utils import timezone

    active, used, lapsed = (services.code_issue(subscriber=SubscriberFactory()) for _ in range(3))
    services.code_redeem(code=used.code)
    DiscountCode.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now())
    for state, expected in [("active", active), ("redeemed", used), ("expired", lapsed)]:
        content = staff_client.get("/admin/newsletter/discountcode/", {"state": state}).content
        shown = {c.code for c in (active, used, lapsed) if c.code in content.decode()}
        assert shown == {expected.code}, state


def test_staff_slow_a_send_down_to_their_providers_limit_even_while_it_runs(
    staff_client, monkeypatch
):
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    page = staff_client.get(f"/admin/newsletter/issue/{issue.pk}/change/").content.decode()
    assert 'name="send_rate_per_minute"' in page
    from newsletter.admin import IssueAdmin

    loaded = IssueAdmin.get_object

    def load_then_workers_move_on(self, *args, **kwargs):
        issue = loaded(self, *args, **kwargs)
        Issue.objects.update(enqueued_through_id=41, rate_window_claimed=7)
        return issue

    monkeypatch.setattr(IssueAdmin, "get_object", load_then_workers_move_on)
    staff_client.post(
        f"/admin/newsletter/issue/{issue.pk}/change/", {"send_rate_per_minute": "600"}
    )
    issue = Issue.objects.get()
    assert issue.send_rate_per_minute == 600
    # The form's copy of the row does not put the send's own progress back.
    assert (issue.enqueued_through_id, issue.rate_window_claimed) == (41, 7)
    assert issue.status == Issue.Status.SENDING
