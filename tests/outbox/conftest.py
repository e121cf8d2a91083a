import smtplib

import pytest
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from skilldacity.outbox import services


class ScriptedBackend(LocmemBackend):
    """Django's test backend, but each send first pops the next planned failure, if any."""

    failures = []

    def send_messages(self, messages):
        if ScriptedBackend.failures:
            raise ScriptedBackend.failures.pop(0)
        return super().send_messages(messages)


@pytest.fixture
def smtp_failures(settings):
    """Plan failures for the next sends: `smtp_failures.extend([SMTPDataError(451, ...)])`."""
    settings.EMAIL_BACKEND = "tests.outbox.conftest.ScriptedBackend"
    ScriptedBackend.failures = []
    yield ScriptedBackend.failures
    ScriptedBackend.failures = []


@pytest.fixture(autouse=True)
def _publish_not_paused(monkeypatch):
    monkeypatch.setattr(services, "_publish_paused_until", 0.0)


def temporary(code=451):
    return smtplib.SMTPDataError(code, b"4.3.0 Try again later")


def permanent(code=550):
    return smtplib.SMTPDataError(code, b"5.1.1 Mailbox unavailable")
