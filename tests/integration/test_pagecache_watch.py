"""Each process keeps the page cache's generation and learns of changes through Redis pub/sub:
no Redis read per page served, and still never a stale page after staff publish, in any process."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.cache import caches

from articles.models import Article
from articles.services import article_publish
from skilldacity import pagecache
from tests.articles.factories import ArticleFactory
from tests.conftest import free_port

from .conftest import ROOT, database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other_process():
    """A second process's watch, as far as Redis can tell: its own subscription and copy."""
    watch = pagecache._GenerationWatch()
    yield watch
    if watch.connection is not None:
        watch._unsubscribe()


def test_pages_served_while_subscribed_read_nothing_from_redis(client, monkeypatch):
    # Subscribe now, whenever an earlier test's subscription ended.
    monkeypatch.setattr(pagecache._watch, "next_attempt", 0.0)
    article = ArticleFactory()
    url = article.get_absolute_url()
    assert client.get(url)["X-Page-Cache"] == "miss"
    assert client.get(url)["X-Page-Cache"] == "hit"
    backend = caches["default"]
    reads = []
    for method in ("get", "get_many"):
        original = getattr(backend, method)
        monkeypatch.setattr(
            backend, method, lambda *args, _m=original, **kw: reads.append(args) or _m(*args, **kw)
        )
    for _ in range(20):
        response = client.get(url)
        assert response["X-Page-Cache"] == "hit"
        assert article.title in response.content.decode()
    assert reads == []


def test_another_process_sees_every_invalidation_by_the_time_it_returns(other_process):
    for _ in range(200):
        pagecache.current_generation()
        assert pagecache._is_state(other_process.stored_state())
        pagecache.invalidate()
        assert other_process.stored_state() is None


def test_the_copy_is_local_so_only_the_announcement_tells_it_apart(other_process):
    """The control for the test above: a change made without announcing it goes unseen."""
    pagecache.current_generation()
    before = other_process.stored_state()
    backend = caches["default"]
    backend.redis().delete(backend.make_key(pagecache.GENERATION_KEY))
    assert other_process.stored_state() == before


def test_a_forked_process_leaves_its_parents_subscription_alone(monkeypatch):
    """gunicorn --preload and Celery's prefork pool fork a process that may have subscribed."""
    monkeypatch.setattr(pagecache._watch, "next_attempt", 0.0)
    backend = caches["default"]
    pagecache.current_generation()
    backend.redis().ping()  # the new generation's announcement has arrived...
    assert pagecache._is_state(pagecache._watch.stored_state())  # ...and been heard
    assert pagecache._watch.connection is not None
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        watch = pagecache._watch
        fresh = watch.connection is None and watch.state is pagecache._UNKNOWN
        os.write(write_end, b"fresh" if fresh else b"inherited")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read_end, 16) == b"fresh"
    # The parent still hears announcements on its own subscription.
    backend.redis().delete(backend.make_key(pagecache.GENERATION_KEY))
    assert pagecache._watch.stored_state() is not None  # not announced: the copy stands
    pagecache._announce_new_generation()
    backend.redis().ping()  # delivered to every subscriber by the time this is answered
    assert pagecache._watch.stored_state() is None


def test_a_lost_subscription_reads_the_generation_until_subscribed_again(
    other_process, throwaway_redis, settings, monkeypatch
):
    settings.CACHES = {
        "default": {
            "BACKEND": "skilldacity.cache.RedisCache",
            "LOCATION": throwaway_redis.url,
            "KEY_PREFIX": "watch-test",
        }
    }
    monkeypatch.setattr(other_process, "RETRY_SECONDS", 0)
    backend = caches["default"]
    key = backend.make_key(pagecache.GENERATION_KEY)
    pagecache.current_generation()
    assert pagecache._is_state(other_process.stored_state())
    assert other_process.connection is not None

    # Redis drops the subscription; meanwhile another process's announcement is lost with it.
    client = backend.redis()
    assert client.client_kill_filter(_type="pubsub") >= 1
    backend.set(pagecache.GENERATION_KEY, ("replaced", None, time.time() + 60), 60)
    assert other_process.stored_state()[0] == "replaced"

    # Subscribed again: changes are announced and seen as before.
    assert other_process.stored_state()[0] == "replaced"
    assert other_process.connection is not None
    pagecache.invalidate()
    assert other_process.stored_state() is None
    assert client.exists(key) == 0


def test_a_quiet_subscription_is_pinged_and_given_up_when_it_does_not_answer(
    other_process, monkeypatch
):
    monkeypatch.setattr(other_process, "PING_SECONDS", 0.05)
    monkeypatch.setattr(other_process, "PONG_SECONDS", 0.3)
    pagecache.current_generation()
    assert pagecache._is_state(other_process.stored_state())
    time.sleep(0.1)
    other_process.stored_state()  # quiet for a while: pinged, and read from Redis meanwhile
    assert other_process.ping_sent_at is not None
    deadline = time.monotonic() + 5
    while other_process.ping_sent_at is not None and time.monotonic() < deadline:
        other_process.stored_state()
    assert other_process.ping_sent_at is None and other_process.connection is not None

    # A connection that died without a sound (a firewall dropped it): PINGs go nowhere.
    monkeypatch.setattr(other_process.connection, "send_command", lambda *args, **kwargs: None)
    time.sleep(0.1)
    other_process.stored_state()
    assert other_process.connection is not None
    time.sleep(0.4)
    backend = caches["default"]
    backend.set(pagecache.GENERATION_KEY, ("changed meanwhile", None, time.time() + 60), 60)
    assert other_process.stored_state()[0] == "changed meanwhile"
    assert other_process.connection is None


@pytest.fixture
def gunicorn_site():
    """The site on gunicorn with two worker processes, on this test's database and Redis."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url_for_tests(),
            "DB_CONN_MAX_AGE": "0",
            "CACHE_KEY_PREFIX": caches["default"].key_prefix,
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "skilldacity.wsgi", "--workers", "2"]
        + ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=5).close()  # noqa: S310
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(15)


def test_readers_on_every_worker_see_an_article_the_moment_it_is_published(gunicorn_site):
    ArticleFactory(title="Already on the front page")
    draft = ArticleFactory(title="Hot off the press", status=Article.Status.DRAFT)

    def read_news():
        with urllib.request.urlopen(f"{gunicorn_site}/news/", timeout=10) as response:  # noqa: S310
            return response.headers["X-Page-Cache"], response.read().decode()

    before = [read_news() for _ in range(30)]
    assert [cache for cache, _ in before].count("hit") >= 28  # both workers serve their copy
    assert not any("Hot off the press" in page for _, page in before)

    article_publish(articles=Article.objects.filter(pk=draft.pk))
    after = [read_news() for _ in range(30)]
    assert all("Hot off the press" in page for _, page in after)
