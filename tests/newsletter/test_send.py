"""Sending an issue: one outbox row per recipient (`newsletter:<issue>:<subscriber>`), so a
resumed or repeated send never mails anyone twice."""

import pytest
from django.utils import timezone

from newsletter import services
from newsletter.content import issue_content
from newsletter.models import Issue, Subscriber
from newsletter.tasks import enqueue_issue, resume_stalled_sends
from skilldacity.outbox.models import Email
from tests.newsletter.conftest import IssueFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def audience():
    confirmed = SubscriberFactory.create_batch(5)
    SubscriberFactory(status=Subscriber.Status.PENDING, confirmed_at=None)
    SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED)
    return confirmed


def send(issue, **kwargs):
    services.issue_start_send(issue_id=issue.pk)
    return services.issue_enqueue(issue_id=issue.pk, **kwargs)


def test_an_issue_reaches_each_confirmed_subscriber_once_with_one_click_unsubscribe(
    audience, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://skilldacity.example"
    issue = IssueFactory()
    with django_capture_on_commit_callbacks(execute=True):
        assert send(issue) is True

    assert sorted(m.to[0] for m in mailoutbox) == sorted(s.email for s in audience)
    message = mailoutbox[0]
    assert message.subject == "November at Skilldacity"
    link = message.extra_headers["List-Unsubscribe"]
    assert link.startswith("<https://skilldacity.example/newsletter/unsubscribe/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.alternatives[0][0]
    assert "<strong>basics</strong>" in html
    assert link.strip("<>") in html
    issue.refresh_from_db()
    assert issue.status == Issue.Status.SENT
    assert services.issue_progress(issue) == {
        "total": 5, "queued": 5, "sent": 5, "failed": 0, "cancelled": 0
    }  # fmt: skip


def test_a_resumed_send_sends_nobody_a_second_copy(
    audience, mailoutbox, django_capture_on_commit_callbacks, settings
):
    """Interrupted after the first batch (and even with its position lost), the send resumes and
    everybody still has exactly one e-mail."""
    settings.NEWSLETTER_SEND_BATCH_SIZE = 2
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.issue_enqueue_batch(issue_id=issue.pk) == 2
    assert len(mailoutbox) == 2
    progress = services.issue_progress(Issue.objects.get())
    assert (progress["sent"], progress["total"]) == (2, 5)

    # The worker died before recording its position: the next run repeats the first batch.
    Issue.objects.update(enqueued_through_id=0)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_issue(issue.pk)

    recipients = [m.to[0] for m in mailoutbox]
    assert sorted(recipients) == sorted(s.email for s in audience)
    assert Email.objects.filter(key__startswith=f"newsletter:{issue.pk}:").count() == 5


def test_the_enqueueing_task_hands_over_after_its_time_slice(
    audience, settings, django_capture_on_commit_callbacks, mailoutbox
):
    settings.NEWSLETTER_SEND_BATCH_SIZE = 1
    settings.NEWSLETTER_ENQUEUE_TASK_SECONDS = 0
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_issue(issue.pk)
    assert len(mailoutbox) == 5
    assert Issue.objects.get().status == Issue.Status.SENT


def test_people_who_join_after_sending_starts_wait_for_the_next_issue(audience, mailoutbox):
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    late = SubscriberFactory()
    services.issue_enqueue(issue_id=issue.pk)
    assert not Email.objects.filter(to=late.email).exists()
    assert Email.objects.filter(key__startswith=f"newsletter:{issue.pk}:").count() == 5


def test_unsubscribing_mid_send_cancels_their_queued_copy(audience):
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue(issue_id=issue.pk)  # rows queued, not yet sent (no on_commit here)
    services.subscriber_unsubscribe(subscriber_id=audience[0].pk)
    email = Email.objects.get(key=f"newsletter:{issue.pk}:{audience[0].pk}")
    assert email.status == Email.Status.CANCELLED


def test_a_test_send_goes_only_to_the_staff_member(
    audience, mailoutbox, django_capture_on_commit_callbacks
):
    issue = IssueFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.issue_send_test(issue=issue, to="editor@skilldacity.example")
        services.issue_send_test(issue=issue, to="editor@skilldacity.example")
    assert [m.to for m in mailoutbox] == [["editor@skilldacity.example"]] * 2
    assert mailoutbox[0].subject == "[Test] November at Skilldacity"
    assert Issue.objects.get().status == Issue.Status.DRAFT


def test_starting_a_sent_issue_again_sends_nothing(
    audience, mailoutbox, django_capture_on_commit_callbacks
):
    issue = IssueFactory()
    with django_capture_on_commit_callbacks(execute=True):
        send(issue)
        send(issue)
    assert len(mailoutbox) == 5


def test_stalled_sends_are_resumed(audience, django_capture_on_commit_callbacks, mailoutbox):
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    Issue.objects.update(enqueue_heartbeat_at=timezone.now() - timezone.timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        resume_stalled_sends()
    assert len(mailoutbox) == 5


def test_issue_body_is_sanitised_markdown_with_absolute_links(settings):
    settings.SITE_URL = "https://skilldacity.example"
    issue = IssueFactory(
        body="Hi <script>alert(1)</script> [x](javascript:alert(1)) **b** [news](/news/)"
    )
    html = issue_content(issue.pk, issue.updated_at.isoformat())["html"]
    assert 'href="https://skilldacity.example/news/"' in html
    assert "<script" not in html
    assert "javascript:" not in html
    assert "<strong>b</strong>" in html


def test_the_send_command_queues_everything_and_reports(audience, capsys):
    from django.core.management import call_command

    issue = IssueFactory()
    call_command("newsletter_send", str(issue.pk))
    out, err = capsys.readouterr()
    assert "queued 5 / 5" in err
    assert f"Issue {issue.pk}: 5 e-mails queued" in out
    assert Issue.objects.get().status == Issue.Status.SENT


def test_queueing_takes_the_same_statements_for_five_or_fifty_recipients(settings):
    """One INSERT per batch, not one per recipient."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.NEWSLETTER_SEND_BATCH_SIZE = 1000
    statements = []
    for size in (5, 50):
        Subscriber.objects.all().delete()
        SubscriberFactory.create_batch(size)
        issue = IssueFactory()
        services.issue_start_send(issue_id=issue.pk)
        with CaptureQueriesContext(connection) as queries:
            assert services.issue_enqueue_batch(issue_id=issue.pk) == size
        statements.append(len(queries))
        assert Email.objects.filter(key__startswith=issue.email_key_prefix).count() == size
    assert statements[0] == statements[1]


class FakeSMTP:
    """A connection of the SMTP backend's shape that records messages, and can break."""

    opened = 0

    def __init__(self, inbox, fail_at=None):
        self.inbox, self.fail_at = inbox, fail_at

    def open(self):
        FakeSMTP.opened += 1
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        import smtplib

        if self.fail_at is not None and len(self.inbox) >= self.fail_at:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self.inbox.extend(messages)
        return len(messages)


@pytest.fixture
def smtp(monkeypatch):
    from skilldacity.outbox import batch

    state = {"inbox": [], "fail_at": None}
    FakeSMTP.opened = 0
    monkeypatch.setattr(
        batch, "get_connection", lambda **kw: FakeSMTP(state["inbox"], state["fail_at"])
    )
    return state


def test_a_batch_of_e_mails_goes_out_over_one_smtp_connection(audience, smtp):
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue(issue_id=issue.pk)
    assert services.issue_send(issue_id=issue.pk) is None
    assert sorted(m.to[0] for m in smtp["inbox"]) == sorted(s.email for s in audience)
    assert FakeSMTP.opened == 1
    assert services.issue_progress(Issue.objects.get())["sent"] == 5


def test_an_smtp_outage_mid_batch_loses_and_doubles_nothing(audience, smtp):
    """The server goes away after two messages: the third is retried with backoff, the rest go
    back to the queue, and once the server is back everyone has exactly one copy."""
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue(issue_id=issue.pk)
    smtp["fail_at"] = 2
    assert services.issue_send(issue_id=issue.pk) is None
    assert len(smtp["inbox"]) == 2
    rows = Email.objects.filter(key__startswith=issue.email_key_prefix)
    assert rows.filter(status=Email.Status.SENT).count() == 2
    failed = rows.get(attempts=1, status=Email.Status.PENDING)
    assert "SMTPServerDisconnected" in failed.last_error
    assert failed.send_after > timezone.now()  # backoff

    smtp["fail_at"] = None
    services.issue_send(issue_id=issue.pk)  # the released rest
    Email.objects.filter(pk=failed.pk).update(send_after=timezone.now(), queued_at=None)
    services.issue_send(issue_id=issue.pk)  # the retried one, once due
    assert sorted(m.to[0] for m in smtp["inbox"]) == sorted(s.email for s in audience)
    assert rows.filter(status=Email.Status.SENT).count() == 5


def test_the_sending_rate_staff_set_holds(audience, smtp):
    issue = IssueFactory(send_rate_per_minute=3)
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue(issue_id=issue.pk)
    wait = services.issue_send(issue_id=issue.pk)
    assert len(smtp["inbox"]) == 3
    assert 0 < wait <= 60
    # A minute later the next window lets the other two through.
    Issue.objects.update(rate_window_started_at=timezone.now() - timezone.timedelta(seconds=61))
    assert services.issue_send(issue_id=issue.pk) is None
    assert sorted(m.to[0] for m in smtp["inbox"]) == sorted(s.email for s in audience)


def test_the_site_wide_rate_applies_when_the_issue_has_none(audience, smtp, settings):
    settings.NEWSLETTER_SEND_RATE_PER_MINUTE = 2
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue(issue_id=issue.pk)
    assert services.issue_send(issue_id=issue.pk) > 0
    assert len(smtp["inbox"]) == 2


def test_e_mails_nobody_is_sending_get_senders_again(audience, smtp):
    """A sender task lost with the broker: the periodic task finds the unclaimed e-mails."""
    issue = IssueFactory()
    services.issue_start_send(issue_id=issue.pk)
    services.issue_enqueue(issue_id=issue.pk)  # on_commit not run: no sender was asked for
    assert services.unsent_issues() == [issue.pk]
    resume_stalled_sends()
    assert len(smtp["inbox"]) == 5
    assert services.unsent_issues() == []


def test_links_made_in_bulk_are_the_links_made_one_by_one(settings, monkeypatch):
    from django.core import signing

    from newsletter.services.links import unsubscribe_links

    settings.SITE_URL = "https://skilldacity.example"
    monkeypatch.setattr(signing.time, "time", lambda: 1_800_000_000)  # one timestamp for both

    link = unsubscribe_links()
    assert link(subscriber_id=7, nonce="abc") == services.unsubscribe_url(
        subscriber_id=7, nonce="abc"
    )


def test_queueing_refreshes_the_outbox_statistics_the_senders_plan_their_claims_on(
    audience, settings, monkeypatch
):
    """Without it PostgreSQL planned each claim on the row counts it last saw (autovacuum lags
    behind a bulk insert, or is off): 75-124 ms a claim with 70,000 queued, 0.25 ms after."""
    settings.NEWSLETTER_SEND_BATCH_SIZE = 1
    batches_queued = []
    monkeypatch.setattr(
        services.sends,
        "refresh_planner_statistics",
        lambda: batches_queued.append(Email.objects.filter(key__startswith="newsletter:").count()),
    )
    send(IssueFactory())  # five recipients, one a batch, then the empty batch that finishes
    assert batches_queued == [1, 2, 4, 5]
