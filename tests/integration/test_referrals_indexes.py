"""Every index on the tables a redemption writes is paid for by every redemption, so each one
here names the query it serves, and the lookups by account, key and request reach their rows
through one (a plan is what a test can hold; the figures are in referrals/migrations/0005)."""

import pytest
from django.db import connection

from referrals.models import LedgerEntry, Redemption

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# Index name -> the query it serves. A new index belongs here with its query, or not at all.
LEDGER_INDEXES = {
    "referrals_ledgerentry_pkey": "an entry by id",
    "referrals_entry_history_idx": "a referrer's history, newest first; any lookup by account",
    "referrals_entry_key_unique": "the idempotency check: one entry per event",
    "referrals_ledgerentry_reverses_id_key": "one reversal per entry",
    "referrals_ledgerentry_redemption_id_f319132c": "a redemption's entries (refund, admin)",
    "referrals_ledgerentry_referral_id_bc471658": "a referral's award and reversal",
    "referrals_ledgerentry_created_by_id_5038f6eb": "a staff user's entries (PROTECT on delete)",
}
REDEMPTION_INDEXES = {
    "referrals_redemption_pkey": "a redemption by id",
    "referrals_r_account_f47b94_idx": "a referrer's redemptions, newest first; any by account",
    "referrals_redemption_key_unique": "a double-clicked redeem button redeems once",
    "referrals_redemption_reward_id_687098f8": "a reward's redemptions (PROTECT on delete)",
    "referrals_redemption_decided_by_id_355a450b": "a staff user's decisions (SET NULL)",
}


def indexes(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {row[0] for row in cursor.fetchall()}


def plan(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # Off, so that the plan shows whether an index can serve the query at all.
        cursor.execute("SET LOCAL enable_seqscan TO off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_each_index_a_redemption_writes_serves_a_named_query():
    # Before: the account's own index beside each (account, ...) pair, and a LIKE twin of each
    # unique key that no query used: 16 indexes, now 12.
    assert indexes(LedgerEntry._meta.db_table) == set(LEDGER_INDEXES)
    assert indexes(Redemption._meta.db_table) == set(REDEMPTION_INDEXES)


def test_lookups_by_account_key_and_request_reach_their_rows_through_an_index():
    assert "referrals_entry_history_idx" in plan(LedgerEntry.objects.filter(account_id=1))
    assert "referrals_r_account_f47b94_idx" in plan(Redemption.objects.filter(account_id=1))
    assert "referrals_entry_key_unique" in plan(
        LedgerEntry.objects.filter(idempotency_key="award:1")
    )
    assert "referrals_redemption_key_unique" in plan(
        Redemption.objects.filter(request_key="1:click")
    )
