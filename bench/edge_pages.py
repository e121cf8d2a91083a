"""Readers served by the reference caching proxy (deploy/nginx/) in front of gunicorn, PostgreSQL
and Redis with 10,000 articles; measured by wrk, all in one run on the same machine.

1. Throughput. For a cached article page, a list page and the feed, nginx serving the page from
   its cache is compared with the same nginx serving a static file of the same size from disk
   (the ceiling: nothing in front of the site can do better here), the two alternating in short
   slices; the median share of the ceiling and p99 are printed, with gunicorn serving the same
   page directly (its own in-process cache) for comparison, and the number of requests that
   reached the origin while the proxy served the page. Target: >= 50% of the ceiling.
2. Publish-to-visible. Staff publish a draft through the admin (a Celery worker purges the
   proxy), then a reader polls the list page through the proxy until the new title shows: the
   time from the admin's answer to the first page that shows it, p50/p99/max over
   BENCH_PUBLISHES (100) publishes. Target: p99 <= 1 s.

Usage (about three minutes; loopback only):
    .venv/bin/python bench/edge_pages.py
Environment: as bench/articles_pages.py (BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_PORT for
gunicorn, BENCH_PROXY_PORT (BENCH_PORT + 1), BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS,
BENCH_ARTICLES), BENCH_PUBLISHES (100).
"""

import http.cookies
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import articles_pages as origin  # bench/ is on sys.path for its scripts
from outbox_common import celery_worker_command

sys.path.insert(0, str(origin.ROOT))
from deploy.nginx.proxy import NginxProxy  # noqa: E402

PROXY_PORT = int(os.environ.get("BENCH_PROXY_PORT", str(origin.PORT + 1)))
PUBLISHES = int(os.environ.get("BENCH_PUBLISHES", "100"))
PAGES = {name: origin.PAGES[name] for name in ("article", "list", "feed")}
TARGET_SHARE = 0.50
TARGET_VISIBLE_P99 = 1.0
DRAFTS = """
from articles.models import Article
from django.contrib.auth import get_user_model
Article.objects.filter(slug__startswith="edge-bench-").delete()
Article.objects.bulk_create(
    Article(title=f"Edge bench draft {n}", slug=f"edge-bench-{n}", body="Draft.",
            body_html="<p>Draft.</p>", status=Article.Status.DRAFT)
    for n in range(N)
)
user, _ = get_user_model().objects.get_or_create(username="edge-bench-staff")
user.is_staff = user.is_superuser = True
user.set_password("edge-bench-password")
user.save()
drafts = Article.objects.filter(slug__startswith="edge-bench-")
print(json.dumps(dict(drafts.values_list("slug", "pk"))))
"""


def start_worker(environment, log):
    return subprocess.Popen(
        celery_worker_command(environment["CELERY_QUEUE"], f"edge-bench-{os.getpid()}"),
        cwd=origin.ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def body_of(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers.get("X-Cache-Status")


def origin_requests(log_path, start):
    """Requests the proxy sent on to gunicorn since byte `start` of its access log."""
    with open(log_path, "rb") as log:
        log.seek(start)
        return sum(1 for line in log if not line.rstrip().endswith(b" -"))


def throughput(proxy, log_path):
    rows, shares = [], {}
    for name, path in PAGES.items():
        body, status = body_of(proxy.url + path)
        body, status = body_of(proxy.url + path)
        if status != "HIT":
            raise SystemExit(f"{name}: the proxy does not cache {path} (X-Cache-Status {status})")
        static = proxy.dir / "static" / f"{name}.html"
        static.write_bytes(body)
        static_path = f"/_edge/static/{name}.html"
        runs, direct = [], []
        reached_origin = 0
        for _ in range(origin.ROUNDS):
            ceiling = origin.wrk(static_path, base=proxy.url)
            start = log_path.stat().st_size
            cached = origin.wrk(path, base=proxy.url)
            time.sleep(0.2)  # the buffered access log reaches the disk
            reached_origin += origin_requests(log_path, start)
            runs.append((cached, ceiling))
            direct.append(origin.wrk(path))
        share = shares[name] = statistics.median(c["rps"] / s["rps"] for c, s in runs)

        def med(values, key):
            return statistics.median(value[key] for value in values)

        static_runs, cached_runs = [s for _, s in runs], [c for c, _ in runs]
        verdict = "PASS" if share >= TARGET_SHARE else "FAIL"
        rows.append(
            f"| {name} ({len(body):,} B) | {med(static_runs, 'rps'):,.0f} "
            f"| {med(static_runs, 'p99'):.1f} ms | {med(cached_runs, 'rps'):,.0f} "
            f"| {share:.0%} {verdict} | {med(cached_runs, 'p99'):.1f} ms | {reached_origin} "
            f"| {med(direct, 'rps'):,.0f} | {med(direct, 'p99'):.1f} ms |"
        )
    print(
        "| page | proxy static req/s | p99 | proxy cached req/s | share | p99 "
        "| requests reaching the origin | gunicorn direct req/s | p99 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return shares


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Staff:
    """Staff's browser: signs in to the admin and runs the bulk "publish" action. Keeps cookies
    itself: with DJANGO_DEBUG=0 they are Secure, which a cookie jar would not send over HTTP.
    Redirects are not followed: the clock starts when the admin answers the publish."""

    def __init__(self, base):
        self.base = base
        self.cookies = {}
        self.opener = urllib.request.build_opener(_NoRedirect)

    def open(self, path, data=None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if data is not None:
            headers["Referer"] = self.base + path
            data = urllib.parse.urlencode(data, doseq=True).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            if exc.code != 302:
                raise
            response = exc
        with response:
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in http.cookies.SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return response.read().decode()

    def post(self, path, data):
        html = self.open(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        return self.open(path, {"csrfmiddlewaretoken": token, **data})

    def sign_in(self):
        self.post("/admin/login/?next=/admin/", {
            "username": "edge-bench-staff", "password": "edge-bench-password", "next": "/admin/",
        })  # fmt: skip
        if "sessionid" not in self.cookies:
            raise SystemExit("staff sign-in failed")


def publish_to_visible(proxy, drafts):
    staff = Staff(proxy.url)
    staff.sign_in()
    changelist = "/admin/articles/article/"
    delays = []
    for slug, pk in list(drafts.items())[:PUBLISHES]:
        title = f"Edge bench draft {slug.rsplit('-', 1)[1]}<"
        staff.post(changelist, {"action": "publish_selected", "_selected_action": [pk]})
        published = time.monotonic()
        while title not in body_of(proxy.url + "/news/")[0].decode():
            if time.monotonic() - published > 10:
                raise SystemExit(f"{slug} still not visible through the proxy after 10 s")
            time.sleep(0.005)
        delays.append(time.monotonic() - published)
    delays.sort()
    p99 = delays[max(0, round(len(delays) * 0.99) - 1)]
    verdict = "PASS" if p99 <= TARGET_VISIBLE_P99 else "FAIL"
    print(
        f"publish-to-visible over {len(delays)} publishes (admin answer -> first page through "
        f"the proxy that shows it): p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms  {verdict} (target 1 s)"
    )
    return p99


def main():
    if not shutil.which("wrk") or not shutil.which("nginx"):
        raise SystemExit("needs wrk and nginx: apt-get install -y wrk nginx")
    origin.prepare()
    workdir = Path(tempfile.mkdtemp(prefix="skd-edge-bench-"))
    proxy = NginxProxy(
        listen=f"127.0.0.1:{PROXY_PORT}",
        upstream=f"127.0.0.1:{origin.PORT}",
        workdir=workdir,
        access_log=True,
    )
    os.environ["EDGE_CACHE_BACKENDS"] = json.dumps(proxy.backend_settings())
    environment = origin.env(600)
    drafts = json.loads(
        subprocess.run(
            [origin.PYTHON, "manage.py", "shell", "-c",
             "import json\nN = " + str(PUBLISHES) + "\n" + DRAFTS],
            cwd=origin.ROOT, env=environment, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
    )  # fmt: skip
    server = origin.start_server(600)
    worker_log = open(workdir / "worker.log", "ab")  # noqa: SIM115
    worker = start_worker(environment, worker_log)
    try:
        proxy.start()
        print(
            f"wrk -t1 -c{origin.CONNECTIONS} -d{origin.SECONDS}s; nginx ({proxy.workers} workers) "
            f"on {proxy.url} in front of gunicorn ({origin.WORKERS} workers) on {origin.BASE}; "
            f"{origin.ROUNDS} rounds, medians\n"
        )
        shares = throughput(proxy, workdir / "access.log")
        print()
        p99 = publish_to_visible(proxy, drafts)
    finally:
        proxy.stop()
        origin.stop_server(server)
        origin.stop_server(worker)
        shutil.rmtree(workdir, ignore_errors=True)
    failed = any(share < TARGET_SHARE for share in shares.values()) or p99 > TARGET_VISIBLE_P99
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
