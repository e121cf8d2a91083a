"""The rate-limit counter in Redis, which every lead and newsletter post goes through."""

import contextlib

import pytest
from django.core.cache import caches

from skilldacity.cache import RedisCache
from skilldacity.spam import rate_limited

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_cache():
    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        pytest.fail("the integration suite runs with REDIS_URL set")
    return cache


def test_a_counter_that_expires_between_the_check_and_the_increment_never_loses_its_timeout(
    redis_cache, monkeypatch
):
    """Django's incr asked EXISTS, then INCRBY: a key that expired in between came back from
    INCRBY with no timeout, and that visitor's counter would never reset."""
    client = redis_cache.redis()
    key = redis_cache.make_key("counter")
    client.set(key, 3, px=50)
    exists = client.exists

    def expires_right_after_the_check(*keys):
        found = exists(*keys)
        client.delete(*keys)
        return found

    monkeypatch.setattr(client, "exists", expires_right_after_the_check)
    with contextlib.suppress(ValueError):  # "not found" is a fine answer for an expired key
        redis_cache.incr("counter")
    assert client.ttl(key) != -1  # -1: a counter that never expires


def test_incr_counts_up_and_keeps_the_window(redis_cache):
    redis_cache.add("window", 0, 60)
    assert [redis_cache.incr("window") for _ in range(3)] == [1, 2, 3]
    assert redis_cache.get("window") == 3
    assert 0 < redis_cache.redis().ttl(redis_cache.make_key("window")) <= 60
    with pytest.raises(ValueError):
        redis_cache.incr("never-set")


def test_the_lead_rate_limit_turns_the_sixth_post_in_a_minute_away(rf):
    request = rf.post("/contact/", REMOTE_ADDR="203.0.113.9")
    verdicts = [rate_limited(request, group="leads-test", rate="5/m") for _ in range(6)]
    assert verdicts == [False] * 5 + [True]
