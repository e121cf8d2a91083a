"""Site drill: a production-like stack, mixed load, one fault at a time, proof nothing was lost.

    .venv/bin/python -m bench.drills.run --short            # CI: about 3 minutes
    .venv/bin/python -m bench.drills.run                    # full: ~9 min, 2-minute SMTP outage
    .venv/bin/python -m bench.drills.run --faults redis,smtp --smtp-outage 30 --rate 12

Timeline: a steady baseline, then each fault in turn (Redis restarted with its data gone; the Celery
worker SIGKILLed and restarted; the SMTP sink stopped; PostgreSQL stopped and started), each
followed by a recovery window, with load running throughout. Then the outbox is given a bounded
time to drain and the checker proves: every accepted submission is exactly one row (looked up by
its unique e-mail in every model with an e-mail field) and exactly one e-mail in the SMTP sink, and
no response was a 5xx unless it was in flight while PostgreSQL was down, and those were 503s
("back in a moment", with Retry-After). Alongside, readers served by the caching proxy in front
of the site read the pages it caches throughout: every one of their requests must answer 200,
also while PostgreSQL is down (stale pages). Exit status 0 only if all of that holds.
"""

import argparse
import os
import random
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.drills.htmlforms import parse_forms  # noqa: E402
from bench.drills.load import Browser, Load, Record, Sample, Submission  # noqa: E402
from bench.drills.smtp_sink import read_store  # noqa: E402
from bench.drills.stack import Stack  # noqa: E402

FAULTS = {
    "redis": ("Redis restarted (data lost)", "restart_redis"),
    "worker": ("Celery worker SIGKILLed", "kill_worker"),
    "smtp": ("SMTP sink stopped", "smtp_outage"),
    "postgres": ("PostgreSQL stopped", "restart_postgres"),
}
# Scenario weights: most traffic reads, a fifth posts forms, a little is hostile.
MIX = {"reader": 60, "visitor": 20, "hostile": 4, "referrer": 8, "probe": 8}


@dataclass
class Phase:
    name: str
    started: float
    ended: float = 0.0
    fault_seconds: float = 0.0
    # (stop began, serving again) for the PostgreSQL fault; None for the others.
    outage: tuple = None


@dataclass
class Referrer:
    username: str
    password: str
    browser: Browser = None


class Plan:
    """What the load does, discovered from the running site (see urlwalk and htmlforms)."""

    def __init__(self, stack, run_id, log):
        from django.urls import reverse

        from articles.models import Article
        from bench.drills.urlwalk import public_pages, walk

        self.stack, self.run_id, self.log = stack, run_id, log
        routes = walk()
        pages = [p for p in public_pages(routes) if p not in {"/healthz", "/favicon.ico"}]
        # Sign-up forms may live under /accounts/; only spam-protected forms are kept anyway, so
        # the sign-in and password forms there are not mistaken for submissions.
        form_pages = [
            r.path for r in routes if not r.has_arguments and r.path.startswith("/accounts/")
        ]
        articles = [a.get_absolute_url() for a in Article.objects.published()[:20]]
        feeds = [
            r.path
            for r in routes
            if not r.has_arguments and ("feed" in r.name or r.path.endswith((".xml", "rss/")))
        ]
        # Only pages a reader can GET: the walker also finds POST-only endpoints (logout, APIs),
        # whose 405s would be noise in the load figures.
        self.read_paths = self._readable(sorted(set(pages + articles + feeds)))
        self.forms = self._discover_forms(pages + form_pages + articles[:1])
        self.login_path = reverse("login")
        self.referrer_paths = [
            r.path for r in routes if not r.has_arguments and r.name.startswith("referrals:")
        ]
        self.referrers = self._make_referrers() if self.referrer_paths else []
        if self.referrers:
            self.referrer_paths = self._readable(self.referrer_paths, self.referrers[0])
        self.probes = 0

    def _readable(self, paths, account=None):
        browser = Browser(self.stack.base_url, "127.0.0.1")
        if account is not None:
            _, body, _ = browser.request("GET", self.login_path)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
            credentials = {"username": account.username, "password": account.password}
            browser.request("POST", self.login_path, {"csrfmiddlewaretoken": token, **credentials})
        return [p for p in paths if browser.request("GET", p)[0] < 400]

    def _discover_forms(self, pages):
        browser = Browser(self.stack.base_url, "127.0.0.1")
        found = {}
        for page in pages:
            status, body, _ = browser.request("GET", page)
            if status != 200:
                continue
            for form in parse_forms(body, self.stack.base_url + page):
                if form.method == "post" and form.spam_protected:
                    found.setdefault(form.key, form)
        return list(found.values())

    def _make_referrers(self, count=5):
        from django.contrib.auth import get_user_model

        users = []
        for n in range(count):
            username = f"drill-referrer-{self.run_id}-{n}"
            password = f"Drill-Referrer-{uuid.uuid4().hex}"
            get_user_model().objects.create_user(
                username=username, email=f"{username}@example.com", password=password
            )
            users.append(Referrer(username, password))
        return users

    def scenarios(self):
        mix = dict(MIX)
        if not self.forms:
            mix.pop("visitor"), mix.pop("hostile")
        if not self.referrers:
            mix.pop("referrer")
        methods = {"hostile": "hostile_visitor", "visitor": "form_visitor"}
        return [(methods.get(name, name), weight) for name, weight in mix.items()]

    def probe(self, load, scheduled):
        """An e-mail enqueued by a drill-side writer: proves the outbox path under every fault
        even before the merged forms give the load real submissions to make."""
        from django.db import close_old_connections

        from skilldacity.outbox.services import email_enqueue

        serial = next(load.serial)
        address = f"probe-{self.run_id}-{serial}@example.com"
        try:
            close_old_connections()
            email_enqueue(
                key=f"drill-probe:{self.run_id}:{serial}",
                to=address,
                template="test_message",
                context={"name": f"Probe {serial}"},
            )
        except Exception as exc:  # noqa: BLE001 - recorded as a refused probe
            load.record.add(
                Sample(
                    "probe",
                    "ENQUEUE",
                    "outbox",
                    0,
                    scheduled,
                    time.time() - scheduled,
                    repr(exc)[:200],
                )
            )
            from django.db import connection

            connection.close()
            return
        load.record.add(
            Sample("probe", "ENQUEUE", "outbox", 201, scheduled, time.time() - scheduled)
        )
        load.record.accept(Submission(address, "outbox-probe", time.time()))


class ProxyReaders:
    """Readers served by the caching proxy: the pages it caches, read in turn at `rate` a second
    from the start of the load to its end. Each sample: (sent, answered, path, status, cache)."""

    def __init__(self, proxy_url, paths, rate=5.0):
        self.url, self.rate = proxy_url, rate
        self.samples = []
        self.paths = [path for path in paths if self._cached(path)]

    def _get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                response.read()
                return response.status, response.headers.get("X-Cache-Status", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("X-Cache-Status", "")
        except OSError:
            return 0, ""

    def _cached(self, path):
        self._get(path)
        return self._get(path) == (200, "HIT")

    def run(self, stop):
        number = 0
        while self.paths and not stop.is_set():
            path = self.paths[number % len(self.paths)]
            number += 1
            sent = time.time()
            status, cache = self._get(path)
            self.samples.append((sent, time.time(), path, status, cache))
            stop.wait(max(0.0, 1 / self.rate - (time.time() - sent)))

    def during(self, started, ended):
        return [sample for sample in self.samples if started <= sample[0] < ended]


# --- measuring --------------------------------------------------------------------------------
def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def phase_stats(record, phase):
    samples = [s for s in record.samples if phase.started <= s.scheduled < phase.ended]
    web = [s for s in samples if s.scenario != "probe"]
    latencies = [s.latency * 1000 for s in web if s.status]
    return {
        "requests": len(web),
        "5xx": sum(1 for s in web if s.status >= 500),
        "no answer": sum(1 for s in web if s.status == 0),
        "error %": 100 * sum(1 for s in web if s.status == 0 or s.status >= 500) / max(len(web), 1),
        "p50 ms": percentile(latencies, 0.50),
        "p99 ms": percentile(latencies, 0.99),
        "probes refused": sum(1 for s in samples if s.scenario == "probe" and s.status == 0),
    }


def email_delays(record, sink, phase):
    arrived = defaultdict(list)
    for message in sink:
        for rcpt in message["rcpt_tos"]:
            arrived[rcpt.lower()].append(message["received_at"])
    delays = [
        min(arrived[s.email]) - s.accepted_at
        for s in record.submissions
        if phase.started <= s.accepted_at < phase.ended and arrived.get(s.email)
    ]
    return (statistics.median(delays), max(delays)) if delays else (float("nan"), float("nan"))


def email_models():
    """Every model with an EmailField except the outbox itself: where a submission can land."""
    from django.apps import apps
    from django.db import models

    found = []
    for model in apps.get_models():
        if model._meta.label == "outbox.Email":
            continue
        for fld in model._meta.get_fields():
            if isinstance(fld, models.EmailField):
                found.append((model, fld.name))
    return found


def wait_for_drain(record, stack, timeout, log):
    """Wait (bounded) until every accepted address has its e-mail in the sink and the outbox has
    nothing pending. Returns the seconds it took, or None if it did not drain in time.

    A row whose worker was SIGKILLed mid-send is pending again at once (its claim was a row lock,
    released with the dead connection); the sweep sends it after OUTBOX_SWEEP_GRACE_SECONDS.
    """
    from django.db import close_old_connections

    from skilldacity.outbox.models import Email

    wanted = {s.email for s in record.submissions if not s.flood}
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        received = {r.lower() for m in read_store(stack.sink_path) for r in m["rcpt_tos"]}
        # Due rows only: a follow-up scheduled for next week is not a backlog.
        states = Counter(Email.objects.due().values_list("status", flat=True))
        missing = len(wanted - received)
        if not missing and not states:
            return time.monotonic() - started
        log(f"draining: {missing} e-mails not yet in the sink; outbox {dict(states)}")
        time.sleep(5)
    return None


def check(record, stack):
    """The proof: rows and e-mails per accepted submission, expected vs found."""
    from django.db import close_old_connections

    from skilldacity.outbox.models import Email

    close_old_connections()
    sink = read_store(stack.sink_path)
    per_recipient = Counter(r.lower() for m in sink for r in m["rcpt_tos"])
    models = email_models()
    accepted = [s for s in record.submissions if not s.flood]
    form_posts = [s for s in accepted if s.form != "outbox-probe"]
    missing_rows, doubled_rows = [], []
    for submission in form_posts:
        counts = [m.objects.filter(**{f"{f}__iexact": submission.email}).count() for m, f in models]
        if not any(counts):
            missing_rows.append(submission.email)
        if any(c > 1 for c in counts):
            doubled_rows.append(submission.email)
    probe_rows = Email.objects.filter(key__startswith="drill-probe:").values_list("to", flat=True)
    probe_counts = Counter(a.lower() for a in probe_rows)
    for submission in accepted:
        if submission.form == "outbox-probe":
            if probe_counts[submission.email] == 0:
                missing_rows.append(submission.email)
            elif probe_counts[submission.email] > 1:
                doubled_rows.append(submission.email)
    missing_mail = [s.email for s in accepted if per_recipient[s.email] == 0]
    doubled_mail = [s.email for s in accepted if per_recipient[s.email] > 1]
    # What each double was, so that a failed run explains itself: the same outbox row twice (the
    # same key and Message-ID: SMTP's window between the "250" and the COMMIT) or two rows.
    doubles_explained = {
        address: {
            "copies": [
                (m["key"], m["message_id"], round(m["received_at"], 3))
                for m in sink
                if address in (r.lower() for r in m["rcpt_tos"])
            ],
            "rows": list(
                Email.objects.filter(to__iexact=address).values_list(
                    "key", "status", "attempts", "last_error", "sent_at"
                )
            ),
        }
        for address in doubled_mail[:5]
    }
    leaked = []
    from tests.security.payloads import leaks_into_html

    for submission in accepted:
        if submission.payload:
            for message in sink:
                if submission.email in [r.lower() for r in message["rcpt_tos"]] and leaks_into_html(
                    submission.payload, message["html"]
                ):
                    leaked.append((submission.email, submission.payload[:40]))
    flood = [s for s in record.submissions if s.flood]
    flood_rows = sum(
        1
        for s in flood
        if any(m.objects.filter(**{f"{f}__iexact": s.email}).exists() for m, f in models)
    )
    return {
        "accepted": len(accepted),
        "form posts": len(form_posts),
        "probes": len(accepted) - len(form_posts),
        "missing rows": missing_rows,
        "doubled rows": doubled_rows,
        "missing e-mails": missing_mail,
        "doubled e-mails": doubled_mail,
        "doubles explained": doubles_explained,
        "e-mails found": sum(min(per_recipient[s.email], 1) for s in accepted),
        "e-mail copies": sum(per_recipient[s.email] for s in accepted),
        "rejected posts": len(record.rejected),
        "payloads tried": sum(1 for s in record.submissions if s.payload)
        + sum(1 for r in record.rejected if r[2]),
        "payloads leaked": leaked,
        "flood posts": len(flood) + sum(1 for r in record.rejected if r[3]),
        "flood rows": flood_rows,
        "failed outbox rows": Email.objects.filter(status="failed").count(),
    }


# --- the drill --------------------------------------------------------------------------------
def run_drill(args):
    run_id = uuid.uuid4().hex[:6]
    start_time = time.monotonic()

    def log(message):
        print(
            f"[drill {time.monotonic() - start_time:6.1f}s] {message}", file=sys.stderr, flush=True
        )

    with Stack(web_workers=args.web_workers, keep=args.keep) as stack:
        os.environ.update(stack.env)
        import django

        django.setup()
        plan = Plan(stack, run_id, log)
        log(
            f"discovered {len(plan.read_paths)} pages to read, {len(plan.forms)} public forms "
            f"({', '.join(sorted({f.key[1] for f in plan.forms})) or 'none yet'}), "
            f"{len(plan.referrer_paths)} referrer pages"
        )
        proxied = ProxyReaders(stack.proxy.url, plan.read_paths)
        log(f"the caching proxy caches {len(proxied.paths)} of those pages")
        proxy_stop = threading.Event()
        threading.Thread(target=proxied.run, args=(proxy_stop,), daemon=True).start()
        record = Record()
        load = Load(stack.base_url, plan, args.rate, run_id, record)
        phases = []
        loader = threading.Thread(target=load.run, args=(args.duration_budget,), daemon=True)
        loader.start()

        flood_stop = threading.Event()
        if plan.forms:
            threading.Thread(target=flood, args=(load, flood_stop), daemon=True).start()

        phases.append(Phase("baseline", time.time()))
        time.sleep(args.baseline)
        flood_stop.set()
        phases[-1].ended = time.time()
        survived = {}
        for fault in args.faults:
            label, method = FAULTS[fault]
            down = {"smtp": args.smtp_outage, "postgres": args.postgres_down}.get(fault, args.down)
            log(f"fault: {label} for {down:g}s")
            phase = Phase(fault, time.time())
            phases.append(phase)
            try:
                outage = getattr(stack, method)(down)
                if fault == "postgres":
                    phase.outage = outage
                survived[fault] = "restored"
            except Exception as exc:  # noqa: BLE001 - reported, the drill goes on
                survived[fault] = f"NOT restored: {exc}"
                log(f"could not restore after {fault}: {exc}")
            phase.fault_seconds = time.time() - phase.started
            time.sleep(args.recovery)
            phase.ended = time.time()
        load.stop_event.set()
        proxy_stop.set()
        loader.join()
        load.close()
        log("load stopped; waiting for the outbox to drain")
        drained = wait_for_drain(record, stack, args.drain_timeout, log)
        result = check(record, stack)
        sink = read_store(stack.sink_path)
        ok = report(args, plan, record, phases, survived, drained, result, sink)
        ok = report_proxy(proxied, phases) and ok
        if not ok:
            # A failed run keeps its logs: one that did not (stop 19) left a double unexplained.
            stack.keep = True
        return ok


def flood(load, stop):
    """One address posting as fast as a script would: the per-IP rate limit must hold."""
    ip = "127.0.254.254"
    while not stop.is_set():
        load.pool.submit(load._run_one, lambda s: load.form_visitor(s, flood_ip=ip), time.time())
        stop.wait(0.5)


def excused(sample, outages):
    """A 503 for a request in flight while PostgreSQL was down is the designed answer; anything
    else (a 500, or a 5xx while the database was up) is a failure. "In flight" is measured per
    request, not per visit: a form posted after its page loaded is sent later than its visit began.
    """
    return sample.status == 503 and any(
        sample.sent <= back and sample.answered >= stopping for stopping, back in outages
    )


def fmt(value):
    if isinstance(value, float):
        return "-" if value != value else f"{value:.0f}"  # NaN: nothing measured
    return str(value)


def table(headers, rows):
    widths = [max(len(fmt(x)) for x in [h, *[r[i] for r in rows]]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(fmt(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    print()


def report(args, plan, record, phases, survived, drained, result, sink):
    print("\n== Load held ==")
    headers = ["phase", "fault s", "requests", "5xx", "no answer", "error %", "p50 ms", "p99 ms",
               "probes refused", "mail delay p50 s", "mail delay max s"]  # fmt: skip
    rows = []
    for phase in phases:
        stats = phase_stats(record, phase)
        delay_median, delay_max = email_delays(record, sink, phase)
        rows.append(
            [phase.name, round(phase.fault_seconds, 1), stats["requests"], stats["5xx"],
             stats["no answer"], f"{stats['error %']:.1f}", stats["p50 ms"], stats["p99 ms"],
             stats["probes refused"], f"{delay_median:.1f}", f"{delay_max:.1f}"]
        )  # fmt: skip
    table(headers, rows)

    by_scenario = Counter(s.scenario for s in record.samples)
    statuses = Counter(s.status for s in record.samples if s.scenario != "probe")
    print("requests by scenario:", dict(by_scenario))
    print("responses by status:", dict(sorted(statuses.items())))
    print()

    print("== Faults survived ==")
    table(["fault", "outcome"], [[FAULTS[f][0], outcome] for f, outcome in survived.items()])

    print("== Nothing lost, nothing doubled ==")
    accepted = result["accepted"]
    rows = [
        ["accepted form submissions", result["form posts"], "-"],
        ["outbox probes accepted", result["probes"], "-"],
        ["rows (one per accepted)", accepted, accepted - len(result["missing rows"])],
        ["rows doubled", 0, len(result["doubled rows"])],
        ["e-mails in SMTP sink", accepted, result["e-mails found"]],
        ["e-mail copies (doubles)", accepted, result["e-mail copies"]],
        ["outbox rows failed for good", 0, result["failed outbox rows"]],
        ["hostile payloads posted", "-", result["payloads tried"]],
        ["payloads leaked into e-mail HTML", 0, len(result["payloads leaked"])],
        ["flood posts (one IP)", "-", result["flood posts"]],
        ["flood rows stored", "< posts", result["flood rows"]],
        ["outbox drained in s", f"<= {args.drain_timeout:g}", "NO" if drained is None else drained],
    ]  # fmt: skip
    table(["check", "expected", "found"], rows)

    outages = [p.outage for p in phases if p.outage]
    bad_5xx = [s for s in record.samples if s.status >= 500 and not excused(s, outages)]
    problems = []
    if bad_5xx:
        problems.append(
            f"{len(bad_5xx)} 5xx responses that were not a 503 during the PostgreSQL outage"
        )
        first_phase = phases[0].started
        for sample in bad_5xx[:10]:
            print(
                f"    {sample.status} {sample.method} {sample.path} ({sample.scenario}) "
                f"sent at {sample.sent - first_phase:.2f}s, answered at "
                f"{sample.answered - first_phase:.2f}s; PostgreSQL down "
                + ", ".join(f"{a - first_phase:.2f}-{b - first_phase:.2f}s" for a, b in outages)
            )
    for name in (
        "missing rows",
        "doubled rows",
        "missing e-mails",
        "doubled e-mails",
        "payloads leaked",
    ):
        if result[name]:
            problems.append(f"{name}: {len(result[name])} (e.g. {result[name][:3]})")
    if drained is None:
        problems.append("outbox did not drain in time")
    if any(not o.startswith("restored") for o in survived.values()):
        problems.append("a fault could not be healed")
    if result["flood posts"] > 20 and result["flood rows"] >= result["flood posts"]:
        problems.append("per-IP rate limit did not hold: every flood post was stored")
    if not accepted:
        problems.append("nothing was accepted: the drill proved nothing")
    print("RESULT:", "PASS" if not problems else "FAIL")
    for problem in problems:
        print("  -", problem)
    explain_doubles(result["doubles explained"])
    return not problems


def explain_doubles(doubles):
    for address, found in doubles.items():
        print(f"  {address}:")
        for key, message_id, received_at in found["copies"]:
            print(f"    in the sink: key {key} Message-ID {message_id} at {received_at}")
        for key, status, attempts, last_error, sent_at in found["rows"]:
            print(f"    outbox row: {key} {status}, {attempts} attempt(s), sent {sent_at}")
            if last_error:
                print(f"      last error: {last_error[:200]}")


def report_proxy(proxied, phases):
    """Readers behind the caching proxy, per phase and while PostgreSQL was down."""
    print("== Readers served by the caching proxy ==")
    if not proxied.paths:
        print("no page is cached by the proxy (the site sends no shared-cache headers): skipped\n")
        return True
    print(f"{len(proxied.paths)} cached pages read in turn, {proxied.rate:g} requests a second")
    rows = []
    windows = [(p.name, p.started, p.ended) for p in phases]
    windows += [("PostgreSQL down", *p.outage) for p in phases if p.outage]
    for name, started, ended in windows:
        samples = proxied.during(started, ended)
        ok = sum(1 for s in samples if s[3] == 200)
        caches = Counter(s[4] or "-" for s in samples)
        latencies = [(s[1] - s[0]) * 1000 for s in samples]
        rows.append(
            [name, round(ended - started, 1), len(samples), ok,
             f"{100 * ok / max(len(samples), 1):.1f}", percentile(latencies, 0.99),
             " ".join(f"{k}:{v}" for k, v in sorted(caches.items()))]
        )  # fmt: skip
    table(["window", "seconds", "requests", "200", "200 %", "p99 ms", "X-Cache-Status"], rows)
    failed = [s for s in proxied.samples if s[3] != 200]
    for sent, _, path, status, cache in failed[:10]:
        print(f"    {status} {path} ({cache or 'no cache status'}) at {sent:.2f}")
    print("RESULT (proxy):", "PASS" if not failed else f"FAIL: {len(failed)} answers not 200")
    print()
    return not failed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="CI mode: ~3 minutes in all")
    parser.add_argument(
        "--rate", type=float, help="visits started per second (default 10, short 8)"
    )
    parser.add_argument("--baseline", type=float, help="seconds of steady load before the faults")
    parser.add_argument("--recovery", type=float, help="seconds of load after each fault")
    parser.add_argument("--down", type=float, help="seconds Redis/worker/PostgreSQL stay down")
    parser.add_argument("--smtp-outage", type=float, help="seconds the SMTP sink stays down")
    parser.add_argument(
        "--postgres-down", type=float, help="seconds PostgreSQL stays down (default: --down)"
    )
    parser.add_argument("--drain-timeout", type=float, help="bound on waiting for the outbox")
    parser.add_argument("--faults", default="redis,worker,smtp,postgres")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) afterwards")
    args = parser.parse_args(argv)
    defaults = (
        {"rate": 8, "baseline": 15, "recovery": 12, "down": 4, "smtp_outage": 20,
         "postgres_down": 4, "drain_timeout": 150}
        if args.short
        else {"rate": 10, "baseline": 60, "recovery": 45, "down": 10, "smtp_outage": 120,
              "postgres_down": 30, "drain_timeout": 420}
    )  # fmt: skip
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {sorted(FAULTS)}")
    # The load thread stops when told; this only bounds it if something goes wrong.
    args.duration_budget = 3600
    if args.seed is not None:
        random.seed(args.seed)
    return args


def main(argv=None):
    args = parse_args(argv)
    sys.exit(0 if run_drill(args) else 1)


if __name__ == "__main__":
    main()
