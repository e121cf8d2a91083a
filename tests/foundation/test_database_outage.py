"""What a visitor sees while PostgreSQL is unreachable: "back in a moment" (503), not a bug page.

Found by the PostgreSQL-restart drill (bench/drills/run.py): every request during the restart was
answered with the generic 500 page, which tells monitors and crawlers the page itself is broken.
"""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError
from django.test import override_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    """The session lookup is the first query most requests make; make it fail like a dead server."""

    def refuse(self):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed')

    monkeypatch.setattr(SessionStore, "_get_session_from_db", refuse)


@override_settings(DEBUG=False)
@pytest.mark.parametrize("method,path", [("get", "/quote/"), ("post", "/contact/")])
def test_a_database_outage_answers_503_with_retry_after(client, database_down, method, path):
    client.raise_request_exception = False
    client.cookies["sessionid"] = "s" * 32

    response = getattr(client, method)(path)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "We will be back in a moment" in page
    assert "it was not saved" in page
