"""Redis gone, hung or unreachable: the form still answers at once, the e-mail waits in the
outbox, and it arrives, once, after Redis is back, with nobody doing anything.

Runs against a private redis-server (never the shared one), with a worker and its beat on it.
"""

import threading
from collections import Counter

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.urls import path

from skilldacity.outbox import services
from skilldacity.outbox.models import Email
from skilldacity.outbox.services import email_enqueue

from .conftest import FAST_OUTBOX_ENV


def contact_view(request):
    """What every form of the site does: save, ask for the e-mail, commit, answer."""
    with transaction.atomic():
        email_enqueue(
            key=f"contact-ack:{request.POST['ref']}",
            to=request.POST["email"],
            template="test_message",
            context={"name": request.POST["name"]},
        )
    return HttpResponse("Thanks, we will be in touch.")


urlpatterns = [path("contact/", contact_view)]


def post_within(client, ref, hang_after):
    """Post the form; fail only if it never comes back (hangs), whatever its speed.

    How fast it answers is measured in bench/outbox_broker_outage.py, not asserted here.
    """
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(
            response=client.post(
                "/contact/", {"ref": ref, "email": f"{ref}@example.com", "name": ref}
            )
        )
    )
    thread.start()
    thread.join(hang_after)
    assert not thread.is_alive(), f"{ref}: the form hung on the broker"
    return result["response"]


@pytest.mark.urls(__name__)
def test_form_answers_during_redis_outages_and_mail_arrives_once_after(
    client, celery_worker_factory, publish_to, throwaway_redis, smtp_server, settings, monkeypatch
):
    """Without the broker timeouts a hung Redis blocks a request forever; with them it answers.
    `hang_after` is far above the configured timeouts (about 3 s), so only a hang trips it."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    hang_after = 10 * (options["socket_connect_timeout"] + options["socket_timeout"])
    worker = celery_worker_factory(
        name="outage",
        beat=True,
        extra_env={**FAST_OUTBOX_ENV, "CELERY_BROKER_URL": throwaway_redis.url},
    )
    publish_to(throwaway_redis.url)

    outages = {
        "refused": (throwaway_redis.stop, throwaway_redis.start),
        "dropped SYN": (throwaway_redis.black_hole, throwaway_redis.close_black_hole),
        "hung": (throwaway_redis.freeze, throwaway_redis.thaw),
    }
    refs = []
    for name, (break_redis, _) in outages.items():
        if name == "hung":
            throwaway_redis.start()
        break_redis()
        # Every outage is met fresh, not behind the pause left by the previous one.
        monkeypatch.setattr(services, "_publish_paused_until", 0.0)
        ref = name.replace(" ", "-")
        response = post_within(client, ref, hang_after)
        assert response.status_code == 200
        # The next request in this process leaves the e-mail to the sweep as well.
        response = post_within(client, f"{ref}-again", hang_after)
        assert response.status_code == 200
        refs += [ref, f"{ref}-again"]
        if name == "dropped SYN":
            outages[name][1]()
    assert set(Email.objects.values_list("status", "queued_at")) == {
        (Email.Status.PENDING, None)
    }, "every row waits for the sweep"
    assert smtp_server.inbox.messages == []

    throwaway_redis.thaw()
    received = smtp_server.inbox.wait_for(len(refs), timeout=90)
    assert len(received) == len(refs), worker.log()
    smtp_server.inbox.wait_for(len(refs) + 1, timeout=3)
    counts = Counter(m["X-Skilldacity-Key"] for m in smtp_server.inbox.messages)
    assert counts == {f"contact-ack:{ref}": 1 for ref in refs}
    assert set(Email.objects.values_list("status", flat=True)) == {Email.Status.SENT}

    # Redis is back: the next form's e-mail goes straight through the broker again.
    monkeypatch.setattr(services, "_publish_paused_until", 0.0)
    response = post_within(client, "after", hang_after)
    assert response.status_code == 200
    assert smtp_server.inbox.wait_for(len(refs) + 1, timeout=30)[-1]["To"] == "after@example.com"
