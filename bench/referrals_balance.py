"""Showing a balance is one indexed read, the same with 10 and with 1,000,000 ledger entries.

Run: .venv/bin/python bench/referrals_balance.py  (PostgreSQL; first run inserts 1M rows, ~30 s)
Prints the query count, the median read time for both accounts and their ratio (target ~1.0),
the plan PostgreSQL uses, and for contrast the cost of summing the entries instead. Then the
dashboard for both accounts: its query count and median render time.
"""

import sys

from referrals_common import account, setup_django, timed

BIG = 1_000_000
SMALL = 10


def fill(target, count, prefix):
    """Bulk-insert `count` entries with generate_series and set the cached balance to match."""
    from django.db import connection, transaction

    from referrals.models import LedgerEntry, ReferrerAccount

    have = LedgerEntry.objects.filter(account=target).count()
    if have >= count:
        return have
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO referrals_ledgerentry
                (account_id, amount, kind, idempotency_key, note, created_at)
            SELECT %s, 1, 'adjustment', %s || g, 'bench', now() - (g || ' seconds')::interval
            FROM generate_series(%s, %s) AS g
            """,
            [target.pk, f"{prefix}:", have + 1, count],
        )
        ReferrerAccount.objects.filter(pk=target.pk).update(balance=count)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE referrals_ledgerentry")
    return count


def main():
    setup_django()
    from django.db import connection
    from django.db.models import Sum
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from referrals.models import LedgerEntry
    from referrals.selectors import account_balance

    small = account("BENCHSML", "bench-small@example.com")
    big = account("BENCHBIG", "bench-big@example.com")
    print(f"ledger entries: small account {fill(small, SMALL, 'bench-small')}, ", end="")
    sys.stdout.flush()
    print(f"big account {fill(big, BIG, 'bench-big')}")

    with CaptureQueriesContext(connection) as queries:
        assert account_balance(user_id=big.user_id) == BIG
    print(f"queries per balance read: {len(queries)}")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + queries.captured_queries[0]["sql"])
        print("plan:", " / ".join(row[0].strip() for row in cursor.fetchall()))

    for _ in range(200):  # warm the connection and caches
        account_balance(user_id=small.user_id)
    small_med, small_p95 = timed(lambda: account_balance(user_id=small.user_id), 3000)
    big_med, big_p95 = timed(lambda: account_balance(user_id=big.user_id), 3000)
    print(f"balance read, {SMALL} entries:    median {small_med:7.1f} us  p95 {small_p95:7.1f} us")
    print(f"balance read, {BIG:,} entries: median {big_med:7.1f} us  p95 {big_p95:7.1f} us")
    print(f"ratio big/small (median): {big_med / small_med:.2f}")

    def summed():
        return LedgerEntry.objects.filter(account=big).aggregate(t=Sum("amount"))["t"]

    sum_med, _ = timed(summed, 5)
    print(
        f"for contrast, SUM over the big account's entries: median {sum_med / 1000:.1f} ms "
        f"({sum_med / big_med:.0f}x the cached read)"
    )

    for label, target in (("small", small), ("big", big)):
        client = Client()
        client.force_login(target.user)
        client.get("/skillpoints/dashboard/")
        executed = []

        def count(execute, sql, params, many, context, executed=executed):
            executed.append(sql)
            return execute(sql, params, many, context)

        # Counted with a wrapper: the test client resets connection.queries at each request.
        with connection.execute_wrapper(count):
            assert client.get("/skillpoints/dashboard/").status_code == 200
        med, p95 = timed(lambda c=client: c.get("/skillpoints/dashboard/"), 30)
        print(
            f"dashboard, {label} account: {len(executed)} queries, median {med / 1000:.1f} ms "
            f"p95 {p95 / 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
