"""Settings for bench/leads_submit.py: the site's settings plus a constant-response baseline view,
no minimum fill time and a rate limit no bench can reach (every post comes from 127.0.0.1)."""

from skilldacity.settings import *  # noqa: F403

ROOT_URLCONF = "leads_bench_urls"
FORM_MIN_FILL_SECONDS = 0
LEADS_RATE_LIMIT = "1000000/m"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# No collectstatic for a bench: pages that render (a form sent back) link the unhashed files.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
