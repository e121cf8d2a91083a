import time

import pytest

from leads.demo import seed_catalogue
from leads.models import Course, DevicePlatform
from skilldacity.spam import form_started_token


@pytest.fixture
def catalogue(db):
    seed_catalogue()
    return {
        "courses": list(Course.objects.order_by("pk")),
        "platforms": list(DevicePlatform.objects.order_by("pk")),
    }


@pytest.fixture
def started():
    """A form_started token from ten seconds ago: a human's fill time."""
    return form_started_token(now=time.time() - 10)


@pytest.fixture
def callback_data(catalogue, started):
    def make(**overrides):
        data = {
            "name": "Ada Lovelace",
            "phone": "07911 123456",
            "email": "ada@example.com",
            "course": str(catalogue["courses"][0].pk),
            "platform": str(catalogue["platforms"][0].pk),
            "call_time": "morning",
            "call_timezone": "Europe/London",
            "message": "Do you offer evening classes?",
            "consent": "on",
            "form_started": started,
            "website": "",
            "next": "/contact/",
        }
        data.update(overrides)
        return {f"callback-{key}": value for key, value in data.items() if value is not None}

    return make


@pytest.fixture
def quote_data(catalogue, started):
    def make(**overrides):
        data = {
            "name": "Grace Hopper",
            "email": "grace@navy.example",
            "phone": "",
            "organisation": "Navy Training Ltd",
            "learners": "25",
            "courses": [str(catalogue["courses"][0].pk), str(catalogue["courses"][2].pk)],
            "platform": str(catalogue["platforms"][1].pk),
            "delivery": "on_site",
            "timeframe": "1-3m",
            "message": "",
            "consent": "on",
            "form_started": started,
            "website": "",
            "next": "/quote/",
        }
        data.update(overrides)
        return {f"quote-{key}": value for key, value in data.items() if value is not None}

    return make


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    """Tests post many leads from one IP; the rate-limit test sets its own limit."""
    settings.LEADS_RATE_LIMIT = "1000/m"
