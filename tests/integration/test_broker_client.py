"""skilldacity/broker.py on the real Redis: publishing reuses one redis-py client per pool, and a
pool that kombu replaces gets a client of its own."""

import uuid

import redis
from django.conf import settings

from skilldacity.broker import Channel


def test_publishes_share_one_client_and_still_arrive(live_broker):
    queue = f"skd-broker-test-{uuid.uuid4().hex[:8]}"
    with live_broker.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        for _ in range(2):
            live_broker.send_task("skilldacity.tests.nothing", queue=queue, connection=connection)
        assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(queue) == 2

        # After a connection error kombu drops its pools; the next publish must not keep using
        # a client of the old pool.
        channel._disconnect_pools()
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
        live_broker.send_task("skilldacity.tests.nothing", queue=queue, connection=connection)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert client.llen(queue) == 3
    client.delete(queue)
