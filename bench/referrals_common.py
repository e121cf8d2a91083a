"""Shared set-up for the SkillPoints benches: a migrated PostgreSQL database of their own.

BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/skd_referrals_bench) is created if
missing and migrated; the benches never touch the development or test databases.
"""

import os
import statistics
import sys
import time
from pathlib import Path

from bench_database import ensure_database  # bench/ is on sys.path for its scripts

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/skd_referrals_bench"


def setup_django():
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    # No broker: the outbox rows are written (that is part of a redemption), sends are not.
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "EMAIL_HOST"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "skilldacity.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import skilldacity.outbox.services as outbox

    # Workers send in production; not measured. Fail loudly if the outbox is refactored under
    # us (a renamed function once left this stub patching nothing and the bench sending mail).
    assert callable(outbox.publish_sends), "bench/referrals_common.py: outbox API changed"
    outbox.publish_sends = lambda email_ids, **options: None
    return url


def account(code, email):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from referrals.models import ReferrerAccount

    user, _ = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    found, _ = ReferrerAccount.objects.get_or_create(
        user=user, defaults={"code": code, "email_verified_at": timezone.now()}
    )
    return found


def timed(function, repeat):
    """Median and p95 of `repeat` calls, in microseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
