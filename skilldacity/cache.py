"""Django's Redis cache backend, with one redis-py client per connection pool.

Django builds a new `redis.Redis` for every cache call, and each one fills a table of about 170
response callbacks: on a page-cache hit that was a seventh of the request's time (bench/
articles_pages.py). A `redis.Redis` is safe to share between threads (each command takes its own
connection from the pool), so one per pool is enough. Reconnecting after a Redis restart is the
pool's job, as before.

`incr` is one script instead of Django's EXISTS then INCRBY: a key that expired between the two
came back from INCRBY without a timeout, and a rate-limit counter without a timeout never resets
(django-ratelimit counts with `add` then `incr`, on every lead post).
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# Returns nil for a missing key, which Django's contract turns into ValueError.
INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return nil
"""


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._incr_scripts = {}

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(id(client))
        if script is None:
            script = self._incr_scripts[id(client)] = client.register_script(INCR_IF_EXISTS)
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
        self.location = server

    def redis(self):
        """The redis-py client behind the cache, for what Django's cache API lacks (pub/sub,
        transactions). Keys and channels go through `make_key`, as the cache's own do."""
        return self._cache.get_client(write=True)
