"""Django's Redis cache backend, with one redis-py client per connection pool.

Django builds a new `redis.Redis` for every cache call, and each one fills a table of about 170
response callbacks: on a page-cache hit that was a seventh of the request's time (bench/
articles_pages.py). A `redis.Redis` is safe to share between threads (each command takes its own
connection from the pool), so one per pool is enough. Reconnecting after a Redis restart is the
pool's job, as before.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

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
