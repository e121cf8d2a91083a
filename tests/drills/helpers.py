from tests.conftest import free_port


def point_redis_at(settings, url=None):
    """Cache and broker on a Redis URL; by default a closed port, i.e. Redis is down."""
    url = url or f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "skilldacity.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.CELERY_BROKER_URL = url
