"""Settings for bench/outbox_request_latency.py: the site's settings with a bench-only URLconf."""

from skilldacity.settings import *  # noqa: F403

ROOT_URLCONF = "outbox_latency_urls"
