"""How the staff dashboard holds up as leads pile up: 10,000 leads against 1,000,000.

Generates leads over two years with PostgreSQL's generate_series in two databases of its own
(BENCH_DATABASE_URL, default skd_insights_bench, with 1,000,000; the same name + "_small" with
10,000), kept between runs, and recomputes the dashboard's tallies after (raw SQL sends no
signals; the time is printed). Then renders the dashboard through Django's test client as a staff
user, the two databases alternating page by page: the default twelve weeks, one year and two
years. Each range with 1,000,000 leads is reported as a ratio against the same range with 10,000
leads, measured in the same run (the machine is shared and noisy), with the number of SQL
statements of each page.

    .venv/bin/python bench/insights_dashboard.py [--leads 1000000] [--repeat 5] [--rebuild]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_database import ensure_database  # noqa: E402
from referrals_common import setup_django  # noqa: E402

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/skd_insights_bench")


def generate_leads(total, progress=True):
    """Bring the table to `total` generated leads spread over two years, in SQL batches."""
    from django.db import connection

    from articles.models import Article
    from leads.models import Lead

    article_ids = list(Article.objects.values_list("pk", flat=True)[:5]) or [None]
    existing = Lead.objects.count()
    columns, expressions = [], []
    special = {
        "kind": "CASE WHEN g % 3 = 0 THEN 'quote' ELSE 'callback' END",
        "status": "CASE WHEN g % 10 = 0 THEN 'won' WHEN g % 10 = 1 THEN 'lost' "
        "WHEN g % 10 IN (2, 3) THEN 'quoted' WHEN g % 10 IN (4, 5, 6) THEN 'contacted' "
        "ELSE 'new' END",
        "name": "'Generated visitor'",
        "email": "'visitor' || g || '@example.com'",
        "consent_text": "'I agree'",
        "dedupe_hash": "md5(g::text)",
        "created_at": "now() - (g % 730) * interval '1 day' - (g % 1440) * interval '1 minute'",
        "contact_due_at": "now() - (g % 730) * interval '1 day' + interval '1 day'",
        "contacted_at": "CASE WHEN g % 10 <= 6 THEN now() - (g % 730) * interval '1 day' "
        "+ (g % 48) * interval '1 hour' END",
        "quoted_at": "CASE WHEN g % 10 <= 3 THEN now() - (g % 730) * interval '1 day' "
        "+ (g % 9 + 2) * interval '1 day' END",
        "closed_at": "CASE WHEN g % 10 <= 1 THEN now() - (g % 730) * interval '1 day' "
        "+ (g % 20 + 10) * interval '1 day' END",
        "utm_source": "CASE WHEN g % 7 = 0 THEN 'linkedin' ELSE '' END",
        "tallied": "true",  # counted by the rebuild that follows
        "referral_code": "CASE WHEN g % 11 = 0 THEN 'REF' || (g % 50) ELSE '' END",
        # The cast types an array of NULLs too (a database without articles).
        "article_id": "(ARRAY[{}]::bigint[])[g % {} + 1]".format(
            ",".join(str(pk) if pk else "NULL" for pk in article_ids), len(article_ids)
        ),
    }
    for field in Lead._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in special:
            expressions.append(special[field.column])
        elif field.null:
            expressions.append("NULL")
        elif field.get_internal_type() in ("CharField", "TextField", "EmailField"):
            expressions.append("''")
        else:
            raise SystemExit(f"bench: no generated value for Lead.{field.name}")
    batch = 100_000
    with connection.cursor() as cursor:
        for low in range(existing + 1, total + 1, batch):
            high = min(low + batch - 1, total)
            cursor.execute(
                f"INSERT INTO {Lead._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
                # %% : the expressions use SQL's modulo, and psycopg2 reads % as a placeholder.
                f"SELECT {', '.join(expressions).replace('%', '%%')} "
                "FROM generate_series(%s, %s) AS g",
                [low, high],
            )
            if progress:
                print(f"\r  leads: {high:,}/{total:,}", end="", flush=True)
        cursor.execute(f"ANALYZE {Lead._meta.db_table}")
    if progress and total > existing:
        print()
    recount()


def recount():
    """Rebuild the tallies the dashboard reads (the leads were written with raw SQL)."""
    from django.db import connection

    from insights import rollups
    from insights.models import LeadTally, StageTally

    started = time.perf_counter()
    rows = rollups.rebuild()
    with connection.cursor() as cursor:
        for model in (LeadTally, StageTally):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    print(f"  tallies rebuilt in {time.perf_counter() - started:.1f} s ({rows:,} rows)")


def render(client, params, repeat):
    from django.db import connection

    # Counted with an execute wrapper: CaptureQueriesContext loses its place when the request
    # resets connection.queries (request_started) in a process that already ran queries.
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    timings = []
    for _ in range(repeat):
        statements.clear()
        with connection.execute_wrapper(count):
            started = time.perf_counter()
            response = client.get("/admin/insights/", params)
            timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return statistics.median(timings), len(statements)


def remove_generated_leads():
    """Start from no generated leads, with the dead rows vacuumed away (a 10,000-lead baseline
    measured over a bloated million-row heap would not be a baseline)."""
    from django.db import connection

    from leads.models import Lead

    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Lead._meta.db_table} WHERE email LIKE 'visitor%%@example.com'"  # noqa: S608
        )
        cursor.execute(f"VACUUM ANALYZE {Lead._meta.db_table}")
    recount()


def use_database(url):
    """Point the default connection at another bench database (migrated on first use)."""
    from django.core.management import call_command
    from django.db import connection

    ensure_database(url)
    connection.close()
    connection.settings_dict["NAME"] = urlsplit(url).path.lstrip("/")
    call_command("migrate", verbosity=0)


def prepare(url, size, rebuild):
    """The database at `url` with exactly `size` leads, kept between runs (generating a
    million takes minutes); a client signed in as staff there."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from leads.models import Lead

    use_database(url)
    call_command("seed_demo", verbosity=0)
    if Lead.objects.count() != size:  # generate_leads counts the demo's leads in `size`
        remove_generated_leads()
        print(f"generating {size:,} leads")
        started = time.perf_counter()
        generate_leads(size)
        print(f"  generated in {time.perf_counter() - started:.1f} s")
    elif rebuild:
        recount()
    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", is_staff=True)
    client = Client()
    client.force_login(staff)
    render(client, {}, 1)  # warm caches and plans
    return client


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--rebuild", action="store_true", help="recompute the tallies of leads kept from a run"
    )
    args = parser.parse_args()
    large_url = setup_django()
    from django.conf import settings
    from django.utils import timezone

    settings.ALLOWED_HOSTS = ["testserver"]
    urls = {args.baseline: large_url + "_small", args.leads: large_url}
    clients = {size: prepare(url, size, args.rebuild) for size, url in urls.items()}
    today = timezone.localdate()
    ranges = {
        "12 weeks": {},
        "1 year": {"start": (today - timezone.timedelta(days=365)).isoformat()},
        "2 years": {"start": (today - timezone.timedelta(days=730)).isoformat()},
    }
    # The two sizes alternate, page by page, so a burst of load on the shared machine hits both.
    samples = {(size, name): [] for size in urls for name in ranges}
    queries = {}
    for _ in range(args.repeat):
        for size, url in urls.items():
            use_database(url)
            for name, params in ranges.items():
                seconds, queries[size, name] = render(clients[size], params, 1)
                samples[size, name].append(seconds)
    print()
    print(f"{'range':<10} {'leads':>10} {'median ms':>10} {'queries':>8} {'ratio':>7}")
    for name in ranges:
        base_time = statistics.median(samples[args.baseline, name])
        for size in urls:
            seconds = statistics.median(samples[size, name])
            print(
                f"{name:<10} {size:>10,} {seconds * 1000:>10.0f} {queries[size, name]:>8} "
                f"{seconds / base_time:>6.1f}x"
            )
    worst_ratio = max(
        statistics.median(samples[args.leads, name])
        / statistics.median(samples[args.baseline, name])
        for name in ranges
    )
    worst_ms = max(statistics.median(samples[args.leads, name]) for name in ranges) * 1000
    verdict = "met" if worst_ratio <= 2 and worst_ms < 300 else "NOT met"
    print(
        f"target: every range within 2x of the same range with {args.baseline:,} leads and under "
        f"300 ms: {verdict} (worst {worst_ratio:.1f}x, {worst_ms:.0f} ms; before: one year with "
        "1,000,000 leads took 4.9 s, 27x the 12-week page with 10,000)"
    )


if __name__ == "__main__":
    main()
