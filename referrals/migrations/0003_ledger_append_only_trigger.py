"""On PostgreSQL the database itself refuses UPDATE and DELETE of ledger rows.

The model refuses edits too, but QuerySet.update()/delete() and raw SQL bypass it; the trigger does
not. TRUNCATE (used by test teardown) is a separate statement and is not affected.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION referrals_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'referrals_ledgerentry is append-only: post a reversing entry instead';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER referrals_ledger_append_only
    BEFORE UPDATE OR DELETE ON referrals_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION referrals_ledger_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS referrals_ledger_append_only ON referrals_ledgerentry;
DROP FUNCTION IF EXISTS referrals_ledger_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0002_ledger_accounts_referrals"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
