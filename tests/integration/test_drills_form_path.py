"""The drill's visitor and checker, end to end, against a stand-in for the merged lead forms.

Until the lead, newsletter and referral forms are merged the real site has no spam-protected form
to post, so this test serves one (a SpamProtectedForm that stores a row and queues an
acknowledgement through the outbox, exactly the contract the real forms follow) and proves the
drill's generic visitor finds it, fills it and posts it under load, and that the checker counts
one row and one e-mail per accepted post, and notices a doubled e-mail.
"""

import json
import sys
import uuid
from types import SimpleNamespace

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template import engines
from django.urls import include, path

from bench.drills.htmlforms import parse_forms
from bench.drills.load import Browser, Load, Record
from bench.drills.run import check
from bench.drills.stack import Service, free_port, port_open
from skilldacity.outbox.services import email_enqueue
from skilldacity.spam import SpamProtectedForm

PAGE = engines["django"].from_string(
    '<html><body><form method="post" action="/drill-form/">{% csrf_token %}{{ form.as_p }}'
    '<button type="submit">Send</button></form></body></html>'
)


class StandInLeadForm(SpamProtectedForm):
    name = forms.CharField(max_length=100)
    email = forms.EmailField()
    message = forms.CharField(widget=forms.Textarea, max_length=20_000)


def stand_in_view(request):
    form = StandInLeadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not form.is_spam():
            data = form.cleaned_data
            with transaction.atomic():
                person = get_user_model().objects.create(
                    username=f"lead-{uuid.uuid4().hex[:12]}", email=data["email"]
                )
                email_enqueue(
                    key=f"stand-in-ack:{person.pk}",
                    to=data["email"],
                    template="test_message",
                    context={"name": data["name"]},
                )
        return redirect("/drill-form/?thanks=1")
    return HttpResponse(PAGE.render({"form": form}, request))


urlpatterns = [path("drill-form/", stand_in_view), path("", include("skilldacity.urls"))]


@pytest.fixture
def sink(tmp_path, settings):
    store = tmp_path / "sink.jsonl"
    port = free_port()
    service = Service(
        "smtp",
        [
            sys.executable,
            "-m",
            "bench.drills.smtp_sink",
            "--port",
            str(port),
            "--store",
            str(store),
        ],
        env=None,
        log_dir=tmp_path,
        ready=lambda: port_open(port),
    )
    service.start(timeout=20)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    yield SimpleNamespace(sink_path=store)
    service.stop()


@pytest.fixture
def site(live_server, settings, transactional_db):
    settings.ROOT_URLCONF = __name__
    settings.FORM_MIN_FILL_SECONDS = 0
    return live_server.url.replace("localhost", "127.0.0.1")


def test_visitors_under_load_each_become_one_row_and_one_email(site, sink):
    page = Browser(site, "127.0.0.1").request("GET", "/drill-form/")[1]
    form = parse_forms(page, site + "/drill-form/")[0]
    assert form.spam_protected
    plan = SimpleNamespace(
        forms=[form],
        read_paths=["/drill-form/"],
        scenarios=lambda: [("form_visitor", 4), ("hostile_visitor", 1), ("reader", 1)],
    )
    record = Record()
    load = Load(site, plan, rate=8, run_id="t1", record=record, threads=8)

    load.run(4)
    load.close()
    result = check(record, sink)

    assert result["accepted"] >= 15
    assert result["form posts"] == result["accepted"]
    assert not any(s.status >= 500 for s in record.samples)
    assert result["missing rows"] == []
    assert result["doubled rows"] == []
    assert result["missing e-mails"] == []
    assert result["doubled e-mails"] == []
    assert result["e-mails found"] == result["accepted"]
    assert result["payloads leaked"] == []

    # The checker must notice a double: deliver one acknowledgement a second time.
    with open(sink.sink_path, encoding="utf-8") as store:
        first = store.readline()
    with open(sink.sink_path, "a", encoding="utf-8") as store:
        store.write(first)
    doubled = check(record, sink)["doubled e-mails"]
    assert doubled == [json.loads(first)["rcpt_tos"][0]]
