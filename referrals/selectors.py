"""Read paths that need care."""

from django.db.models import Sum

from .models import LedgerEntry, ReferrerAccount


def account_balance(*, user_id):
    """One read of one indexed row (the unique user_id), however long the account's history."""
    row = ReferrerAccount.objects.filter(user_id=user_id).values_list("balance", flat=True)
    return next(iter(row), 0)


def ledger_drift(*, batch_size=1000, progress=None):
    """Yield (account_id, cached_balance, sum_of_entries) for every account where they differ.

    Walks accounts in primary-key batches with one grouped SUM per batch, so memory stays flat and
    the index on (account, created_at, id) serves the sums. `progress(done, total)` is called per
    batch.
    """
    total = ReferrerAccount.objects.count()
    done, last_pk = 0, 0
    while True:
        batch = list(
            ReferrerAccount.objects.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "balance")[:batch_size]
        )
        if not batch:
            break
        sums = dict(
            LedgerEntry.objects.filter(account_id__in=[pk for pk, _ in batch])
            .values("account_id")
            .annotate(total=Sum("amount"))
            .values_list("account_id", "total")
            .order_by()
        )
        for pk, cached in batch:
            entries_total = sums.get(pk) or 0
            if cached != entries_total:
                yield pk, cached, entries_total
        done += len(batch)
        last_pk = batch[-1][0]
        if progress:
            progress(done, total)
