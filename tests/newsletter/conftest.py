import re
import time

import factory
import pytest
from django.utils import timezone

from newsletter import services
from newsletter.forms import CONSENT_TEXT
from newsletter.models import Issue, Subscriber
from skilldacity.spam import form_started_token


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    first_name = "Ada"
    status = Subscriber.Status.CONFIRMED
    consent_text = CONSENT_TEXT
    token_nonce = factory.Sequence(lambda n: f"nonce{n:08d}")
    confirmed_at = factory.LazyFunction(timezone.now)


class IssueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Issue

    subject = "November at Skilldacity"
    body = "## New courses\n\nCloud **basics** starts soon. [Read more](https://example.com)."


@pytest.fixture
def signup_data():
    def make(**overrides):
        return {
            "email": "ada@example.com",
            "first_name": "Ada",
            "consent": "on",
            "source": "footer",
            "form_started": form_started_token(now=time.time() - 10),
            **overrides,
        }

    return make


@pytest.fixture
def sign_up(client, signup_data, django_capture_on_commit_callbacks):
    """Post the sign-up form as a person would, running the e-mails it queues."""

    def post(**overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/newsletter/", signup_data(**overrides))

    return post


LINK = re.compile(r"https?://\S+/newsletter/(?:confirm|unsubscribe)/[^\s/]+/")


def links_in(message):
    return LINK.findall(message.body)


@pytest.fixture
def confirm_path():
    def make(subscriber):
        return services.confirm_url(subscriber).removeprefix(services.absolute_url(""))

    return make


@pytest.fixture
def unsubscribe_path():
    def make(subscriber):
        url = services.unsubscribe_url(subscriber_id=subscriber.pk, nonce=subscriber.token_nonce)
        return url.removeprefix(services.absolute_url(""))

    return make
