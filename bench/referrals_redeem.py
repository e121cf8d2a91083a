"""Redemptions per second on PostgreSQL at 1, 8 and 32 concurrent clients, then the audit.

Run: .venv/bin/python bench/referrals_redeem.py [--seconds 3]
Each client is a thread with its own database connection, calling the real service
(`reward_redeem`: row lock, stock update, redemption row, ledger entry, two outbox rows).
  - "own accounts": every client redeems from its own account (throughput);
  - "one account": all clients redeem from the same account (they queue on its row lock).
Baseline, same run and clients: a minimal locked transaction on the client's own account row
(SELECT ... FOR UPDATE + UPDATE), so the figure reads as "a redemption costs N locked updates".
Afterwards `audit_skillpoints` must report no drift.
"""

import argparse
import itertools
import threading
import time
import uuid

from referrals_common import account, setup_django

LEVELS = (1, 8, 32)


def run_clients(clients, seconds, work):
    """Run `work(client_index)` in a loop on `clients` threads for `seconds`; return ops/s."""
    from django.db import connections

    stop = time.monotonic() + seconds
    counts = [0] * clients
    barrier = threading.Barrier(clients)

    def loop(index):
        try:
            barrier.wait()
            while time.monotonic() < stop:
                work(index)
                counts[index] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    setup_django()
    from django.core.management import call_command
    from django.db import transaction
    from django.db.models import F

    from referrals.models import LedgerEntry, ReferrerAccount, Reward
    from referrals.services import ledger, rewards

    run_id = uuid.uuid4().hex[:6].upper()
    reward, _ = Reward.objects.get_or_create(
        slug="bench-reward",
        defaults={"name": "Bench reward", "kind": "accessory", "points_cost": 1},
    )
    accounts = [account(f"R{run_id}{i:02d}", f"redeem-{run_id}-{i}@example.com") for i in range(32)]
    for target in accounts:
        ledger.ledger_post(
            account_id=target.pk,
            amount=10_000_000,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            key=f"bench-fund:{target.pk}",
        )
    keys = itertools.count()

    def redeem_own(index):
        rewards.reward_redeem(
            account_id=accounts[index].pk, reward_id=reward.pk, request_key=f"{run_id}-{next(keys)}"
        )

    def redeem_shared(index):
        rewards.reward_redeem(
            account_id=accounts[0].pk, reward_id=reward.pk, request_key=f"{run_id}-{next(keys)}"
        )

    def baseline(index):
        with transaction.atomic():
            locked = ReferrerAccount.objects.select_for_update().get(pk=accounts[index].pk)
            ReferrerAccount.objects.filter(pk=locked.pk).update(balance=F("balance"))

    print(f"{seconds:.0f} s per measurement; rates in operations per second")
    print(
        f"{'clients':>7} {'baseline':>9} {'own accts':>10} {'ratio':>6} {'one acct':>9} "
        f"{'ratio':>6}"
    )
    for clients in LEVELS:
        base = run_clients(clients, seconds, baseline)
        own = run_clients(clients, seconds, redeem_own)
        shared = run_clients(clients, seconds, redeem_shared)
        print(
            f"{clients:>7} {base:>9.0f} {own:>10.0f} {own / base:>6.2f} {shared:>9.0f} "
            f"{shared / base:>6.2f}"
        )

    print("audit_skillpoints:")
    try:
        call_command("audit_skillpoints", quiet=True)
    except Exception as error:  # noqa: BLE001 - the bench reports the failure and exits non-zero
        print(f"DRIFT: {error}")
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
