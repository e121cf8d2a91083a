"""`/healthz` for load balancers: is this web process able to reach the database, cache and broker?

Each check is timed and bounded (the cache and broker clients use 1-second socket timeouts), so a
dead Redis answers 503 in about a second instead of hanging the balancer's probe. The response is
never cached and is exempt from the SSL redirect (SECURE_REDIRECT_EXEMPT), because balancers probe
plain HTTP on the private network.
"""

import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 1.0


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache():
    # A unique key per probe: concurrent probes from several balancers never read each other's.
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=5)
    value = cache.get(key)
    cache.delete(key)
    if value != "ok":
        raise RuntimeError("cache did not return what was just stored")


def check_broker():
    if not settings.CELERY_BROKER_URL:
        return "inline (no broker configured)"
    from skilldacity.celery import app

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
        )
        # Redis connects lazily: ask the server something so a dead one is noticed.
        client = getattr(conn.default_channel, "client", None)
        if client is not None:
            client.ping()
    return None


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def run_checks():
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            detail = check()
        except Exception as exc:  # noqa: BLE001 - any failure is the answer, not a crash
            logger.warning("healthz: %s failed: %s", name, exc)
            result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            result = {"status": "ok"}
            if detail:
                result["detail"] = detail
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    return results


@never_cache
@require_GET
def healthz(request):
    checks = run_checks()
    healthy = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )


# Included from the root URLconf with one line, so the endpoint and its route live together.
urlpatterns = [path("healthz", healthz, name="healthz")]
