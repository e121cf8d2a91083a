"""How fast does the application build article pages? gunicorn on PostgreSQL with 10,000
articles, measured by wrk. Readers are served by the HTTP cache in front (deploy/, and the proxy
bench); this measures what reaches the application: a miss, a signed-in reader, `make run`.

Each page is measured side by side with a constant-response Django view on the same gunicorn,
in the same run (the framework's own ceiling), and reported as a ratio of it. The machine is
shared and noisy, so the two alternate in short slices (ceiling, page, ceiling, page...) and the
median of the per-slice ratios is reported:

    article page for an anonymous reader >= 30% of the ceiling's requests per second
    list page, feed and sitemap: reported

Modes:
  origin    an anonymous reader the cache in front did not serve: the view renders the page;
            the parts shared by every reader (article body, sidebar, forms) come from the
            fragment cache;
  signed-in a signed-in reader: as origin, plus loading the session and the user;
  after-publish  right after staff publish (a new cache generation), each request a different
            article, as a crawler walking the site would: every page is built, but the parts
            all articles share (lead forms, footer) only once;
  cold      PAGE_CACHE_SECONDS=0: every page and fragment built from the database.

Usage (about four minutes; loopback only):
    .venv/bin/python bench/articles_pages.py
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/skd_articles),
BENCH_REDIS_URL (default redis://127.0.0.1:6379/2), BENCH_PORT (8150), BENCH_SECONDS (2 per
slice), BENCH_ROUNDS (3), BENCH_CONNECTIONS (8), BENCH_WORKERS (2), BENCH_ARTICLES (10000),
BENCH_MODES (all: origin,signed-in,after-publish,cold).
"""

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench_database import ensure_database  # bench/ is on sys.path for its scripts

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/skd_articles"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
PORT = int(os.environ.get("BENCH_PORT", "8150"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ARTICLES = int(os.environ.get("BENCH_ARTICLES", "10000"))
BASE = f"http://127.0.0.1:{PORT}"
CEILING = "/bench/constant/"
PAGES = {
    "article": "/news/bench-article-5000/",
    "list": "/news/?page=50",
    "feed": "/news/feed/rss/",
    "sitemap": "/sitemap-articles.xml?p=2",
}
TARGETS = {("article", "origin"): 0.30}
SESSION_SCRIPT = """
from django.contrib.auth import get_user_model, login
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import RequestFactory
user, _ = get_user_model().objects.get_or_create(username="bench-reader")
request = RequestFactory().get("/")
request.session = SessionStore()
login(request, user, backend="django.contrib.auth.backends.ModelBackend")
request.session.save()
print("session:", request.session.session_key)
"""


def env(page_cache_seconds):
    values = dict(os.environ)
    values.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.articles_settings",
            "DJANGO_DEBUG": "0",
            "SECRET_KEY": "bench-only-" + "k3y" * 20,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SITE_URL": BASE,
            "DATABASE_URL": DATABASE_URL,
            "DB_CONN_MAX_AGE": "600",
            "REDIS_URL": REDIS_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_QUEUE": "skd-articles-bench",
            "CACHE_KEY_PREFIX": "skd-articles-bench",
            "PAGE_CACHE_SECONDS": str(page_cache_seconds),
            "PYTHONPATH": str(ROOT),
        }
    )
    return values


def manage(*args):
    subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env(600), check=True, stdout=subprocess.DEVNULL
    )


def signed_in_cookie():
    key = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SESSION_SCRIPT],
        cwd=ROOT,
        env=env(600),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "sessionid=" + re.search(r"^session: (\w+)$", key, re.MULTILINE).group(1)


def prepare():
    print(f"preparing {DATABASE_URL}: migrate, seed {ARTICLES} articles, collectstatic")
    ensure_database(DATABASE_URL)
    manage("migrate", "--noinput", "-v0")
    manage("seed_demo", "--articles", str(ARTICLES))
    manage("collectstatic", "--noinput", "-v0")
    # As autovacuum would after a bulk load: fresh planner statistics, no dead index entries.
    import psycopg2

    connection = psycopg2.connect(DATABASE_URL)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()


def start_server(page_cache_seconds):
    server = subprocess.Popen(
        [
            GUNICORN,
            "skilldacity.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env(page_cache_seconds),
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(BASE + CEILING, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        stop_server(server)
        raise SystemExit("gunicorn did not come up")
    for path in [CEILING, *PAGES.values()]:  # warm connections, templates and the page cache
        for _ in range(3):
            with urllib.request.urlopen(BASE + path, timeout=10) as response:
                assert response.status == 200, (path, response.status)
    return server


def stop_server(server):
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def worker_rss_mb(server):
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024)
    return sizes


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# What publishing does to the fragment cache.
START_NEW_GENERATION = "from skilldacity import pagecache; pagecache.invalidate()"
# Each request a different article (wrk -t1: one counter).
WALK_ARTICLES = """
local seen = 0
request = function()
  seen = seen + 1
  return wrk.format("GET", "/news/bench-article-" .. (seen % ARTICLES + 1) .. "/")
end
"""


def wrk(path, cookie=None, script=None, base=BASE):
    headers = ["-H", f"Cookie: {cookie}"] if cookie else []
    if script:
        headers += ["-s", script]
    output = subprocess.run(
        [
            "wrk",
            *headers,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{SECONDS}s",
            "--latency",
            "--timeout",
            "5s",
            base + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = to_ms(*re.search(r"50%\s+([\d.]+)(us|ms|s)", output).groups())
    p99 = to_ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups())
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"{path}: {errors.group(1)} error responses\n{output}")
    return {"rps": rps, "p50": p50, "p99": p99}


def measure(mode, page_cache_seconds, pages, cookie=None, after_publish=False):
    """Each page alternating with the ceiling, so both see the same machine load."""
    server = start_server(page_cache_seconds)
    rows, ratios = [], {}
    script = None
    if after_publish:
        script = Path(f"/tmp/skd-walk-articles-{os.getpid()}.lua")
        script.write_text(WALK_ARTICLES.replace("ARTICLES", str(ARTICLES)))
    try:
        for name in pages:
            path = PAGES[name]
            runs = []
            for _ in range(ROUNDS):
                ceiling = wrk(CEILING)
                if after_publish:
                    manage("shell", "-c", START_NEW_GENERATION)
                runs.append((wrk(path, cookie, script), ceiling))
            ratio = ratios[name] = statistics.median(p["rps"] / c["rps"] for p, c in runs)
            figures = {key: statistics.median(p[key] for p, _ in runs) for key in runs[0][0]}
            ceiling_rps = statistics.median(c["rps"] for _, c in runs)
            target = TARGETS.get((name, mode))
            verdict = ""
            if target is not None:
                verdict = f"  {'PASS' if ratio >= target else 'FAIL'} (target {target:.0%})"
            rows.append(
                f"  {mode:13} {name:8} {figures['rps']:6.0f} req/s = {ratio:4.0%} of "
                f"{ceiling_rps:5.0f}   p50 {figures['p50']:6.1f} ms   "
                f"p99 {figures['p99']:6.1f} ms{verdict}"
            )
        rss = worker_rss_mb(server)
    finally:
        stop_server(server)
        if script:
            script.unlink()
    print("\n".join(rows))
    print(
        f"  {mode:13} worker RSS after the run: "
        + ", ".join(f"{size:.0f} MB" for size in rss)
        + f" ({WORKERS} sync workers)"
    )
    return ratios


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")
    prepare()
    print(
        f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s against gunicorn ({WORKERS} workers) on {BASE}; "
        f"each page alternating {ROUNDS} times with the ceiling (a constant-response Django "
        "view on the same server); medians"
    )
    failures = 0
    cookie = signed_in_cookie()
    every_page = list(PAGES)
    runs = (
        ("origin", 600, every_page, {}),
        ("signed-in", 600, ["article", "list"], {"cookie": cookie}),
        ("after-publish", 600, ["article"], {"after_publish": True}),
        ("cold", 0, every_page, {}),
    )
    wanted = os.environ.get("BENCH_MODES", "").split(",") if os.environ.get("BENCH_MODES") else None
    for mode, seconds, pages, options in runs:
        if wanted is not None and mode not in wanted:
            continue
        ratios = measure(mode, seconds, pages, **options)
        for (name, target_mode), target in TARGETS.items():
            if target_mode == mode and ratios[name] < target:
                failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
