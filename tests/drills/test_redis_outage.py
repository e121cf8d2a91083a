"""What a visitor sees while Redis (cache, sessions, broker) is down: pages, not 500s.

Found by the Redis-restart drill (bench/drills/run.py): with sessions in `cached_db`, every request
from a signed-in visitor reads the session from the cache first, and Django's Redis cache raises on
a refused connection, so those requests were 500s until Redis came back.
"""

import pytest

from tests.drills.helpers import point_redis_at
from tests.security.conftest import evaluate_settings

pytestmark = pytest.mark.django_db


def production_session_engine():
    """The session engine production uses when Redis is configured (REDIS_URL set)."""
    configured = evaluate_settings(REDIS_URL="redis://127.0.0.1:6379/0")
    return configured.get("SESSION_ENGINE", "django.contrib.sessions.backends.db")


def test_signed_in_visitor_gets_pages_while_redis_is_down(client, settings, django_user_model):
    settings.SESSION_ENGINE = production_session_engine()
    user = django_user_model.objects.create_user("ada", password="a-long-passphrase-9")
    client.force_login(user)
    point_redis_at(settings)

    assert client.get("/skillpoints/").status_code == 200
    assert client.get("/news/").status_code == 200


def test_anonymous_readers_get_pages_while_the_page_cache_is_down(client, settings):
    """Found by the Redis-restart drill after the merge: the page cache raised on a dead Redis."""
    from django.core.management import call_command

    call_command("seed_demo", verbosity=0)
    from articles.models import Article

    article = Article.objects.published().first()
    point_redis_at(settings)
    for path in ("/", "/news/", article.get_absolute_url(), "/quote/", "/newsletter/"):
        assert client.get(path).status_code == 200, path
