"""Bench-only settings: the real site plus a constant-response view (the framework's ceiling).

Used by bench/articles_pages.py through DJANGO_SETTINGS_MODULE; never by the production site.
"""

import os

from skilldacity.settings import *  # noqa: F403

ROOT_URLCONF = "bench.articles_urls"
PAGE_CACHE_SECONDS = int(os.environ.get("PAGE_CACHE_SECONDS", "600"))
# Access logs and INFO lines would measure the terminal, not the site.
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
