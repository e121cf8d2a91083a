"""The outbox services, on SQLite with tasks inline (the embedded default)."""

import smtplib
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import (
    WAKE_KEY,
    backoff_delay,
    email_cancel,
    email_enqueue,
    email_retry,
    is_permanent_failure,
    outbox_hand_out_waiting,
    outbox_sweep,
)
from skilldacity.outbox.tasks import hand_out_waiting, send_email, send_emails

from .conftest import permanent, temporary

pytestmark = pytest.mark.django_db


def enqueue(key="lead-ack:1", **kwargs):
    kwargs.setdefault("to", "ada@example.com")
    kwargs.setdefault("template", "test_message")
    kwargs.setdefault("context", {"name": "Ada"})
    return email_enqueue(key=key, **kwargs)


def make_due(*emails):
    """Time passes: what was scheduled or backed off is now due, and its task long gone."""
    past = timezone.now() - timedelta(hours=1)
    Email.objects.filter(pk__in=[e.pk for e in emails]).update(send_after=past, queued_at=None)


def test_message_carries_key_stable_message_id_and_caller_headers(
    mailoutbox, django_capture_on_commit_callbacks
):
    headers = {
        "List-Unsubscribe": "<https://skilldacity.example/newsletter/unsubscribe/abc/>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue(headers=headers)
    [message] = mailoutbox
    sent_headers = message.message()
    assert sent_headers["Message-ID"] == email.message_id
    assert sent_headers["X-Skilldacity-Key"] == "lead-ack:1"
    assert sent_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent_headers["List-Unsubscribe"] == headers["List-Unsubscribe"]
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (Email.Status.SENT, 1, "")
    assert email.sent_at is not None


def test_each_row_gets_its_own_message_id_at_creation():
    first, second = enqueue("a:1"), enqueue("a:2")
    assert first.message_id and first.message_id != second.message_id
    assert first.message_id.endswith("@skilldacity.example>")


def test_a_delivered_task_for_a_sent_row_sends_nothing(
    mailoutbox, django_capture_on_commit_callbacks
):
    """A redelivered or duplicated task (broker redelivery, two sweeps) finds the row sent."""
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue()
    assert send_email.apply(args=(email.pk,)).get() is None
    assert outbox_sweep() == []
    assert len(mailoutbox) == 1


def test_scheduled_email_waits_for_its_time_then_the_sweep_sends_it(
    mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue("quote-reminder:7", send_after=timezone.now() + timedelta(days=2))
    assert mailoutbox == []
    assert outbox_sweep() == []
    assert send_email.apply(args=(email.pk,)).get() is None, "a task cannot send it early"
    make_due(email)
    assert outbox_sweep() == [email.pk]
    assert len(mailoutbox) == 1
    assert Email.objects.get().status == Email.Status.SENT


def test_cancelled_follow_up_is_never_sent(mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue("quote-reminder:7", send_after=timezone.now() + timedelta(days=2))
        enqueue("lead-ack:7")
    assert email_cancel(keys=["quote-reminder:7", "lead-ack:7", "unknown:1"]) == 1
    make_due(email)
    assert outbox_sweep() == []
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    assert dict(Email.objects.values_list("key", "status")) == {
        "quote-reminder:7": Email.Status.CANCELLED,
        "lead-ack:7": Email.Status.SENT,
    }


def test_temporary_failure_backs_off_then_sends_once(
    settings, smtp_failures, mailoutbox, django_capture_on_commit_callbacks
):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 60
    smtp_failures.extend([temporary(), ConnectionRefusedError(111, "Connection refused")])
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.PENDING, 1)
    assert "451" in email.last_error
    first_wait = email.send_after - before
    assert timedelta(seconds=30) <= first_wait <= timedelta(seconds=61)
    assert outbox_sweep() == [], "not due yet"

    make_due(email)
    outbox_sweep()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.PENDING, 2)
    assert "Connection refused" in email.last_error
    assert email.send_after - timezone.now() >= timedelta(seconds=59), "the wait doubled"

    make_due(email)
    outbox_sweep()
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (Email.Status.SENT, 3, "")
    assert len(mailoutbox) == 1


def test_permanent_failure_is_recorded_and_not_retried(
    smtp_failures, mailoutbox, django_capture_on_commit_callbacks
):
    smtp_failures.append(permanent(550))
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.FAILED, 1)
    assert "550" in email.last_error and "Mailbox unavailable" in email.last_error
    make_due(email)
    assert outbox_sweep() == []
    assert mailoutbox == []


def test_gives_up_after_max_attempts(
    settings, smtp_failures, mailoutbox, django_capture_on_commit_callbacks
):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    smtp_failures.extend([temporary()] * 3)
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue()
    for _ in range(2):
        make_due(email)
        outbox_sweep()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.FAILED, 3)
    assert mailoutbox == []


def test_missing_template_fails_for_good(mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        email = enqueue(template="no_such_template")
    email.refresh_from_db()
    assert email.status == Email.Status.FAILED
    assert "TemplateDoesNotExist" in email.last_error


def test_retry_now_sends_a_failed_email_and_leaves_sent_ones_alone(
    smtp_failures, mailoutbox, django_capture_on_commit_callbacks
):
    smtp_failures.append(permanent(554))
    with django_capture_on_commit_callbacks(execute=True):
        failed = enqueue("a:1")
        sent = enqueue("a:2")
    with django_capture_on_commit_callbacks(execute=True):
        assert email_retry(ids=[failed.pk, sent.pk]) == 1
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Email.Status.SENT, 2)
    assert sorted(m.extra_headers["X-Skilldacity-Key"] for m in mailoutbox) == ["a:1", "a:2"]


def test_rows_whose_task_was_handed_out_recently_are_left_to_that_task(settings):
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 120
    now = timezone.now()
    row = {"to": "a@example.com", "template": "test_message", "send_after": now}
    fresh = Email.objects.create(key="k:1", queued_at=now, **row)
    stale = Email.objects.create(key="k:2", queued_at=now - timedelta(minutes=3), **row)
    never = Email.objects.create(key="k:3", queued_at=None, **row)
    handed_out = outbox_sweep(now=now)
    assert sorted(handed_out) == sorted([stale.pk, never.pk])
    assert fresh.pk not in handed_out
    assert outbox_sweep(now=now) == [], "a second sweep finds them handed out"


def test_unreachable_broker_leaves_rows_to_the_sweep_without_failing_the_caller(
    monkeypatch, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """With a broker configured but down, the request still succeeds; after one failure the
    process stops trying for OUTBOX_PUBLISH_PAUSE_SECONDS, so later requests pay nothing."""
    from kombu.exceptions import OperationalError

    send_email.app.conf.task_always_eager = False  # the autouse _tasks_inline fixture restores it
    attempts = []

    def broker_down(*args, **kwargs):
        attempts.append(args)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(hand_out_waiting, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        first = enqueue("a:1")
    with django_capture_on_commit_callbacks(execute=True):
        second = enqueue("a:2")
    assert len(attempts) == 1, "the second request did not wait for the broker again"
    assert cache.get(WAKE_KEY) is None, "a failed wake-up left the key to block the next one"
    assert list(Email.objects.filter(queued_at=None).order_by("pk")) == [first, second]

    send_email.app.conf.task_always_eager = True
    assert sorted(outbox_sweep()) == [first.pk, second.pk]
    assert len(mailoutbox) == 2


def test_commits_wake_the_senders_once_until_the_hand_out_starts(
    monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    """A lead's acknowledgement and staff notice, and the next posts' e-mails: one publish for
    all of them while it waits for a worker; once the hand-out has started, the next commit
    publishes another, and the hand-out sends every row that was waiting, each once."""
    send_email.app.conf.task_always_eager = False  # the autouse _tasks_inline fixture restores it
    wakes, sends = [], []
    monkeypatch.setattr(hand_out_waiting, "apply_async", lambda *a, **kw: wakes.append(a))
    monkeypatch.setattr(send_emails, "apply_async", lambda args, **kw: sends.append(args[0]))
    monkeypatch.setattr(send_email, "apply_async", lambda args, **kw: sends.append(list(args)))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first, second = enqueue("t:1"), enqueue("t:2")
        enqueue("t:1")  # asked twice: the same row, not a second send
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        third = enqueue("t:3")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                enqueue("t:4")
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        fifth = enqueue("t:5")
    assert len(wakes) == 1
    assert not sends

    handed_out = outbox_hand_out_waiting()
    assert sorted(handed_out) == [first.pk, second.pk, third.pk, fifth.pk]
    assert sorted(pk for batch in sends for pk in batch) == sorted(handed_out)
    assert not Email.objects.filter(queued_at=None).exists()
    assert not Email.objects.filter(key="t:4").exists()
    assert outbox_hand_out_waiting() == [], "a row was handed out twice"

    with django_capture_on_commit_callbacks(execute=True):
        enqueue("t:6")
    assert len(wakes) == 2, "a commit after the hand-out started did not wake the senders"


@given(st.integers(min_value=1, max_value=40))
def test_backoff_grows_is_capped_and_jittered(attempts):
    delay = backoff_delay(attempts)
    ceiling = min(1800, 30 * 2 ** (attempts - 1))
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_spreads_retries_of_many_rows():
    assert len({round(backoff_delay(3), 3) for _ in range(20)}) > 10


@pytest.mark.parametrize(
    ("exc", "permanent_"),
    [
        (smtplib.SMTPDataError(451, b"try later"), False),
        (smtplib.SMTPDataError(550, b"no such user"), True),
        (smtplib.SMTPSenderRefused(553, b"bad sender", "a@b"), True),
        (smtplib.SMTPRecipientsRefused({"a@b": (550, b"no")}), True),
        (smtplib.SMTPRecipientsRefused({"a@b": (450, b"greylisted")}), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(111, "refused"), False),
        (TimeoutError("timed out"), False),
    ],
)
def test_failure_classification(exc, permanent_):
    assert is_permanent_failure(exc) is permanent_


def test_sweep_command_sends_due_rows_inline_and_reports(mailoutbox):
    Email.objects.create(key="k:1", to="a@example.com", template="test_message", queued_at=None)
    Email.objects.create(
        key="k:2",
        to="b@example.com",
        template="test_message",
        send_after=timezone.now() + timedelta(days=1),
    )
    from io import StringIO

    out = StringIO()
    call_command("outbox_sweep", stdout=out)
    assert "Handed out 1 e-mail(s)" in out.getvalue()
    assert "1 still pending" in out.getvalue()
    assert [m.to for m in mailoutbox] == [["a@example.com"]]


def test_check_warns_when_backoff_outlasts_the_visibility_timeout(settings):
    from skilldacity.outbox.checks import backoff_within_visibility_timeout

    assert backoff_within_visibility_timeout(None) == []
    settings.OUTBOX_BACKOFF_MAX_SECONDS = 7200
    [warning] = backoff_within_visibility_timeout(None)
    assert warning.id == "outbox.W001"
