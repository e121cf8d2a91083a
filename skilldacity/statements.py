"""INSERTs built straight from a model's fields, and several statements in one round trip.

For the lead post, the hottest write path. Its rows were five ORM INSERTs, each a round trip of its
own, each with `save()`'s or `bulk_create`'s machinery around it; built here, the ones that need
no answer go to PostgreSQL together with the one that does. Building one costs about what the
ORM's compiler does (85 us for a lead here): the saving is in the round trips. The values still
go through each field's `pre_save` and `get_db_prep_save`, as the ORM's INSERT does, so defaults,
`auto_now_add`, JSON and IP address adaptation are the model's own. What this skips is what
`Model.save()` adds: signals (a caller that needs them sends them) and validation (the ORM's
INSERT does not validate either).
"""

import functools

from django.db import connection


def insert_statement(model, objs, *, with_pk=False, returning=(), ignore_conflicts=False):
    """(sql, params) of one INSERT of `objs`, unsaved instances of `model`.

    `with_pk`: the objects carry their primary key (reserved beforehand), otherwise the database
    gives it. `returning`: field names the statement returns. `ignore_conflicts`: ON CONFLICT DO
    NOTHING (the conflicting rows are then not returned).
    """
    meta = model._meta
    fields = _insert_fields(model, with_pk)
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Names from the model's own meta, quoted; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(objs))}"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(meta.get_field(name).column) for name in returning)
    params = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field in fields
    ]
    return sql, params


@functools.cache
def _insert_fields(model, with_pk):
    fields = []
    for field in model._meta.local_concrete_fields:
        if (field.primary_key and not with_pk) or field.generated:
            continue
        if field.has_db_default() and not field.has_default():
            # Its value would be an expression for the database to fill in, which only the ORM's
            # compiler can write.
            raise ValueError(f"{field} has only a database default: insert it through the ORM")
        fields.append(field)
    return fields


def run_together(statements):
    """Run (sql, params) statements in order, in one round trip where the database allows it.
    Returns the rows of the last one (an empty list if it returns none).

    PostgreSQL takes several statements in one query string (psycopg2 binds the parameters on
    the client); the results of all but the last are dropped, so only the last may be a query
    whose answer matters. SQLite runs one statement per call.
    """
    statements = [statement for statement in statements if statement]
    if not statements:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "; ".join(sql for sql, _ in statements),
                [param for _, params in statements for param in params],
            )
        else:
            for sql, params in statements:
                cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
