"""The contract every app relies on: email_enqueue records in the caller's transaction."""

import pytest
from django.db import transaction

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_enqueue

pytestmark = pytest.mark.django_db


def _enqueue(key="welcome:1"):
    return email_enqueue(
        key=key, to="ada@example.com", template="test_message", context={"name": "Ada"}
    )


def test_committed_enqueue_sends_exactly_once(mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue()
        _enqueue()
    assert Email.objects.count() == 1
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["ada@example.com"]
    assert "Ada" in message.body
    assert message.alternatives and "Ada" in message.alternatives[0][0]
    assert Email.objects.get().status == Email.Status.SENT


def test_rolled_back_enqueue_sends_nothing(mailoutbox, django_capture_on_commit_callbacks):
    class Boom(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        _enqueue()
        raise Boom
    assert Email.objects.count() == 0
    assert mailoutbox == []
