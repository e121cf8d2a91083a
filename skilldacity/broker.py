"""kombu's Redis transport, with one redis-py client per connection pool for publishing.

kombu builds a new `redis.Redis` for every publish (`Channel._create_client`), and each one fills
a table of about 170 response callbacks: under cProfile that was a fifth of a lead post's one
publish. A `redis.Redis` is safe to share between threads (each command takes its own connection
from the pool), so, as `skilldacity/cache.py` does for Django's cache, one per pool is enough. A
pool kombu replaces (after a connection error it drops its pools) gets a new client.

Only the synchronous client is shared: the worker's consumer (the asynchronous one) is kombu's.
"""

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:
            client = self._shared_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
