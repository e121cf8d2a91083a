"""skilldacity/statements.py: INSERTs built from a model's fields store what the ORM would, and
statements sent together run in order, all or nothing. Runs on SQLite and, in the PostgreSQL
suite, through the one-round-trip path."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, models, transaction
from django.test.utils import isolate_apps
from django.utils import timezone

from referrals.models import KnownEmail
from skilldacity.outbox.models import Email
from skilldacity.statements import insert_statement, run_together

pytestmark = pytest.mark.django_db


def test_an_insert_built_from_the_fields_stores_what_save_stores():
    when = timezone.make_aware(datetime(2026, 12, 3, 9, 30))
    values = {
        "to": "visitor@example.com",
        "template": "lead_ack",
        # The outbox's context is encoded with DjangoJSONEncoder: dates and decimals too.
        "context": {"name": "Zoë", "when": when, "price": Decimal("12.50"), "courses": ["A"]},
        "headers": {"Reply-To": "x@example.com"},
        "send_after": when,
        "created_at": when,
    }
    saved = Email.objects.create(key="saved", **values)
    built = Email(key="built", **values)
    [(built_id,)] = run_together([insert_statement(Email, [built], returning=("id",))])

    def stored(pk):
        row = Email.objects.values().get(pk=pk)
        return {name: value for name, value in row.items() if name not in ("id", "key")}

    saved_row, built_row = stored(saved.pk), stored(built_id)
    # Each instance got its own Message-ID from the field's default; everything else is equal.
    assert built_row.pop("message_id") == built.message_id != saved_row.pop("message_id")
    assert built_row == saved_row
    assert built_row["context"]["price"] == "12.50"


def test_statements_run_in_order_and_only_the_last_ones_rows_come_back():
    now = timezone.now()
    rows = run_together(
        [
            insert_statement(KnownEmail, [KnownEmail(email="a@example.com", first_seen_at=now)]),
            insert_statement(
                KnownEmail,
                [
                    KnownEmail(email="a@example.com", first_seen_at=now),  # a conflict: skipped
                    KnownEmail(email="b@example.com", first_seen_at=now),
                ],
                returning=("email",),
                ignore_conflicts=True,
            ),
        ]
    )
    assert rows == [("b@example.com",)]
    assert sorted(KnownEmail.objects.values_list("email", flat=True)) == [
        "a@example.com",
        "b@example.com",
    ]
    assert run_together([]) == []


def test_one_failing_statement_leaves_nothing_of_the_others():
    now = timezone.now()
    KnownEmail.objects.create(email="taken@example.com", first_seen_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        run_together(
            [
                insert_statement(
                    KnownEmail, [KnownEmail(email="new@example.com", first_seen_at=now)]
                ),
                insert_statement(
                    KnownEmail, [KnownEmail(email="taken@example.com", first_seen_at=now)]
                ),
            ]
        )
    assert list(KnownEmail.objects.values_list("email", flat=True)) == ["taken@example.com"]


@isolate_apps("referrals")
def test_a_field_only_the_database_can_fill_is_refused_not_written_as_null():
    class Counter(models.Model):
        hits = models.IntegerField(db_default=0)

        class Meta:
            app_label = "referrals"

        def __str__(self):
            return str(self.hits)

    with pytest.raises(ValueError, match="only a database default"):
        insert_statement(Counter, [Counter()])
