"""Discount codes on PostgreSQL: racing checkouts and racing sign-ups."""

import threading

import pytest
from django.db import connection
from django.test import Client

from newsletter import services
from newsletter.forms import CONSENT_TEXT
from newsletter.models import DiscountCode, Subscriber
from tests.newsletter.conftest import SubscriberFactory


def race(count, action):
    """Run `action(i)` in `count` threads released at the same instant; return the results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait(timeout=10)
            results[index] = action(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_checkouts_racing_on_one_code_get_one_success_and_one_refusal():
    _, raw = services.apikey_create(name="Shop")
    codes = [services.code_issue(subscriber=SubscriberFactory()).code for _ in range(10)]

    def checkout(index):
        code, order = codes[index // 2], f"ORDER-{index}"
        response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
            "/newsletter/api/codes/redeem/",
            {"code": code.lower(), "order_reference": order},
            content_type="application/json",
        )
        return code, response.status_code, response.json()

    results = race(20, checkout)

    for code in codes:
        answers = sorted(status for c, status, _ in results if c == code)
        assert answers == [200, 409], (code, results)
        refused = next(body for c, status, body in results if c == code and status == 409)
        assert refused["message"] == "This code has already been used."
        winner = next(body for c, status, body in results if c == code and status == 200)
        stored = DiscountCode.objects.get(code=code)
        assert stored.redeemed_at is not None
        assert stored.order_reference in {f"ORDER-{i}" for i in range(20)}
        assert winner["result"] == "redeemed"


@pytest.mark.django_db(transaction=True)
def test_simultaneous_sign_ups_with_one_address_make_one_subscriber():
    def signup(index):
        return services.subscriber_signup(
            email="Twin@Example.com" if index % 2 else "twin@example.com",
            first_name="",
            source="footer",
            consent_text=CONSENT_TEXT,
            ip="127.0.0.1",
            attribution={},
        ).pk

    ids = race(6, signup)
    assert len(set(ids)) == 1
    assert Subscriber.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_codes_are_unique_in_the_database():
    from django.db import IntegrityError, transaction

    first = services.code_issue(subscriber=SubscriberFactory())
    with pytest.raises(IntegrityError), transaction.atomic():
        DiscountCode.objects.create(
            code=first.code, subscriber=SubscriberFactory(), expires_at=first.expires_at
        )
