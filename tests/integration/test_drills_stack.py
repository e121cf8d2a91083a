"""The drill launcher's stack, started for real: /healthz follows Redis going down and coming back.

This runs its own PostgreSQL cluster, Redis, SMTP sink, gunicorn, worker and beat (bench/drills/
stack.py) on free ports in DRILL_PORTS, never the machine's shared services.
"""

import json
import time
import urllib.error
import urllib.request

import pytest

from bench.drills.stack import Stack


def healthz(stack):
    try:
        with urllib.request.urlopen(f"{stack.base_url}/healthz", timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def stack():
    with Stack(web_workers=2, worker_concurrency=1) as running:
        yield running


def test_production_like_stack_reports_healthy(stack):
    status, body = healthz(stack)

    assert status == 200
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
    }


def test_healthz_says_503_while_redis_is_down_and_200_once_it_is_back(stack):
    stack.services["redis"].stop()
    try:
        status, body = healthz(stack)
        assert status == 503
        assert body["checks"]["database"]["status"] == "ok"
        assert body["checks"]["cache"]["status"] == "error"
        assert body["checks"]["broker"]["status"] == "error"
    finally:
        stack.services["redis"] = stack._redis().start(timeout=20)

    deadline = time.monotonic() + 20
    while (status := healthz(stack)[0]) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200


def test_healthz_says_503_while_postgres_is_down(stack):
    stack.postgres.stop()
    try:
        status, body = healthz(stack)
        assert status == 503
        assert body["checks"]["database"]["status"] == "error"
        assert body["checks"]["cache"]["status"] == "ok"
    finally:
        stack.postgres.start()
    deadline = time.monotonic() + 20
    while (status := healthz(stack)[0]) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200
