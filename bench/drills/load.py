"""Open-loop mixed load: visits start at a fixed rate whatever the server's speed.

Why not locust or wrk: wrk needs Lua scripting to fetch a form, keep its CSRF cookie and post it
back, and locust brings gevent's monkey-patching into a process that also drives Django's ORM (the
checker, the e-mail probes). A thread pool with http.client is enough for tens of requests a
second on loopback, and an open-loop schedule measures latency from when each visit *should* have
started, so a stalled server shows up as latency instead of silently lowering the rate
(coordinated omission).

Every visitor has its own loopback address (127.0.x.y: all of 127/8 is loopback on Linux), so the
site's per-IP rate limits see many visitors, as in production, instead of one flooding IP.
"""

import http.client
import itertools
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urljoin, urlsplit

from .htmlforms import TOKEN_PATH, fill, needs_token, parse_forms, put_token, shows_errors

REQUEST_TIMEOUT = 15


@dataclass
class Sample:
    scenario: str
    method: str
    path: str
    status: int  # 0: no answer (connection refused, timeout)
    scheduled: float  # when the visit should have started (time.time())
    latency: float  # seconds from `scheduled` to the answer
    error: str = ""
    # When this request went out: later than `scheduled` for the second request of a visit (a form
    # posted after its page was fetched) or when the pool is backed up.
    sent: float = 0.0

    @property
    def answered(self):
        return self.scheduled + self.latency


@dataclass
class Submission:
    """One form post whose answer said "thank you": it must become one row and one e-mail."""

    email: str
    form: str
    accepted_at: float
    payload: str = ""
    flood: bool = False


@dataclass
class Record:
    samples: list = field(default_factory=list)
    submissions: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample):
        with self.lock:
            self.samples.append(sample)

    def accept(self, submission):
        with self.lock:
            self.submissions.append(submission)


class Browser:
    """A visitor: one source address and a cookie jar that ignores the Secure flag.

    Production cookies are Secure; the drill talks plain HTTP on loopback, so a standards-minded
    cookie jar would drop them and every CSRF check would fail.
    """

    def __init__(self, base_url, source_ip):
        split = urlsplit(base_url)
        self.host, self.port = split.hostname, split.port
        self.source_ip = source_ip
        self.cookies = {}

    def request(self, method, path, data=None):
        headers = {"Host": f"{self.host}:{self.port}", "User-Agent": "skilldacity-drill"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{self.host}:{self.port}{path}"
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=REQUEST_TIMEOUT, source_address=(self.source_ip, 0)
        )
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                for name, morsel in cookie.items():
                    self.cookies[name] = morsel.value
            return response.status, content.decode("utf-8", "replace"), response.headers
        finally:
            conn.close()


def _visitor_ips():
    for a, b in itertools.product(range(1, 255), range(1, 255)):
        yield f"127.0.{a}.{b}"


class Load:
    """Runs visits from a scenario mix at `rate` per second until stopped."""

    def __init__(self, base_url, plan, rate, run_id, record=None, threads=48):
        self.base_url = base_url
        self.plan = plan
        self.rate = rate
        self.run_id = run_id
        self.record = record or Record()
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="visit")
        self.stop_event = threading.Event()
        self.serial = itertools.count(1)
        self.ips = _visitor_ips()
        self.ip_lock = threading.Lock()
        self.scenarios = plan.scenarios()
        self.extra = []  # scheduled extras, e.g. the flood

    def next_ip(self):
        with self.ip_lock:
            return next(self.ips)

    def browser(self, ip=None):
        return Browser(self.base_url, ip or self.next_ip())

    def timed(self, scenario, browser, method, path, scheduled, data=None):
        sent = time.time()
        try:
            status, body, headers = browser.request(method, path, data)
            error = ""
        except (OSError, http.client.HTTPException) as exc:
            status, body, headers, error = 0, "", {}, f"{type(exc).__name__}: {exc}"[:200]
        self.record.add(
            Sample(scenario, method, path, status, scheduled, time.time() - scheduled, error, sent)
        )
        return status, body, headers

    # --- scenarios -------------------------------------------------------------------------
    def reader(self, scheduled):
        path = random.choice(self.plan.read_paths)
        self.timed("reader", self.browser(), "GET", path, scheduled)

    def form_visitor(self, scheduled, overrides=None, flood_ip=None):
        target = random.choice(self.plan.forms)
        browser = self.browser(flood_ip)
        scenario = "flood" if flood_ip else "visitor"
        page_path = urlsplit(target.page_url).path
        status, body, _ = self.timed(scenario, browser, "GET", page_path, scheduled)
        if status != 200:
            return
        form = next((f for f in parse_forms(body, target.page_url) if f.key == target.key), None)
        if form is None:
            return
        if needs_token(form):
            status, body, _ = self.timed(scenario, browser, "GET", TOKEN_PATH, scheduled)
            if status != 200:
                return
            put_token(form, json.loads(body))
        serial = next(self.serial)
        email = f"drill-{self.run_id}-{serial}@example.com"
        data = fill(form, email=email, serial=serial, overrides=overrides)
        action = urlsplit(form.action).path
        status, body, _ = self.timed(scenario, browser, "POST", action, scheduled, data)
        answered_ok = 200 <= status < 400 and not (status == 200 and shows_errors(body))
        payload = next(iter(overrides.values())) if overrides else ""
        if answered_ok:
            self.record.accept(
                Submission(email, "/".join(form.key[1:2]), time.time(), payload, bool(flood_ip))
            )
        elif status:
            with self.record.lock:
                self.record.rejected.append((email, status, payload, bool(flood_ip)))

    def hostile_visitor(self, scheduled):
        from tests.security.payloads import PAYLOADS

        target = random.choice(self.plan.forms)
        candidates = [f for f in target.visible_fields if f.kind in {"text", "textarea", "tel"}]
        if not candidates:
            return self.form_visitor(scheduled)
        payload = random.choice(PAYLOADS)
        return self.form_visitor(scheduled, overrides={random.choice(candidates).name: payload})

    def referrer(self, scheduled):
        account = random.choice(self.plan.referrers)
        browser = account.browser
        if browser is None:
            browser = self.browser()
            status, body, _ = self.timed(
                "referrer", browser, "GET", self.plan.login_path, scheduled
            )
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
            if status != 200 or not token:
                return
            self.timed(
                "referrer", browser, "POST", self.plan.login_path, scheduled,
                {"csrfmiddlewaretoken": token.group(1), "username": account.username,
                 "password": account.password},
            )  # fmt: skip
            account.browser = browser
        self.timed("referrer", browser, "GET", random.choice(self.plan.referrer_paths), scheduled)

    def probe(self, scheduled):
        """An e-mail through the outbox from outside the web tier (see Plan.probe)."""
        self.plan.probe(self, scheduled)

    # --- the clock -------------------------------------------------------------------------
    def _run_one(self, fn, scheduled):
        try:
            fn(scheduled)
        except Exception as exc:  # noqa: BLE001 - a drill bug must not stop the load
            self.record.add(Sample(fn.__name__, "-", "-", 0, scheduled, 0, f"drill error: {exc!r}"))

    def run(self, duration):
        """Schedule visits for `duration` seconds (blocking); returns when all have answered."""
        names, weights = zip(*self.scenarios, strict=True)
        functions = [getattr(self, name) for name in names]
        started = time.time()
        interval = 1.0 / self.rate
        for n in itertools.count():
            scheduled = started + n * interval
            if scheduled - started >= duration or self.stop_event.is_set():
                break
            delay = scheduled - time.time()
            if delay > 0:
                time.sleep(delay)
            fn = random.choices(functions, weights)[0]
            self.pool.submit(self._run_one, fn, scheduled)

    def close(self):
        self.pool.shutdown(wait=True)


def absolute(base_url, path):
    return urljoin(base_url, path)
