"""Keeping the tallies in step with the leads.

Every change to a lead that is already counted moves its counts in the same transaction. A lead a
visitor posts is counted later, by `tally_new_leads`: Celery beat runs it every minute, and the
dashboard runs it before it reads, so what staff see still equals a direct count. Until then the
lead's `tallied` is False and nothing moves its counts (a change before the job just changes what
the job will count). That took the tally's upsert, which every post made on the same few rows,
off the form post (bench/leads_submit.py).

A lead that is not spam counts once in LeadTally, in the row of its (local day, kind, source,
article) and again in the row of its week; and in StageTally once per funnel stage it reached,
in the bucket of the time that stage took. Every write to a lead moves its counts: saves and
deletes through signals (the services, the admin), the bulk updates that send no signals through
`leads_changing` (anonymisation) or the article signals (deleting an article sets its leads'
article to NULL in one UPDATE). `check` compares both tables with a direct count over the leads;
`rebuild` recomputes them (after loading leads with raw SQL, or changing TIME_ZONE).
"""

import bisect
from contextlib import contextmanager
from datetime import UTC, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from leads.models import Lead

from .models import LeadTally, StageTally

# The lead fields the counts depend on; a save that writes none of them moves nothing.
FIELDS = (
    "kind",
    "status",
    "created_at",
    "contacted_at",
    "quoted_at",
    "closed_at",
    "referral_code",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "article_id",
)
COUNTS = ("leads", "contacted", "quoted", "won")
LEAD_KEY = ("days", "day", "kind", "source", "article_id")
STAGE_KEY = ("days", "day", "kind", "source", "stage", "bucket")

MINUTE, HOUR, DAY = 60, 3600, 86400
# Histogram edges for the time a stage took, in seconds: bucket i holds [BOUNDS[i], BOUNDS[i+1]),
# bucket -1 a negative time, the last bucket everything from a year on. Steps a person reads as
# round numbers, fine enough that the median's interval says something, few enough that a week
# of a busy site is a few dozen rows.
BOUNDS = (
    0, MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, 45 * MINUTE,
    HOUR, 90 * MINUTE, 2 * HOUR, 3 * HOUR, 4 * HOUR, 5 * HOUR, 6 * HOUR, 8 * HOUR, 10 * HOUR,
    12 * HOUR, 16 * HOUR, 20 * HOUR, DAY, 30 * HOUR, 36 * HOUR, 2 * DAY, 60 * HOUR, 3 * DAY,
    4 * DAY, 5 * DAY, 6 * DAY, 7 * DAY, 10 * DAY, 14 * DAY, 21 * DAY, 30 * DAY, 45 * DAY,
    60 * DAY, 90 * DAY, 180 * DAY, 365 * DAY,
)  # fmt: skip


def bucket_of(duration):
    return bisect.bisect_right(BOUNDS, duration.total_seconds()) - 1


def bucket_bounds(bucket):
    """(low, high) timedeltas of a bucket; None for an open end."""
    low = timedelta(seconds=BOUNDS[bucket]) if bucket >= 0 else None
    high = timedelta(seconds=BOUNDS[bucket + 1]) if bucket + 1 < len(BOUNDS) else None
    return low, high


def source_of(values):
    """The Python twin of queries.LEAD_SOURCE (the rollup tests hold the two to each other)."""
    if values["referral_code"] != "":
        return "referral"
    if values["utm_source"].lower() == "newsletter" or values["utm_medium"].lower() == "email":
        return "newsletter"
    if values["utm_source"] != "" or values["utm_campaign"] != "":
        return "campaign"
    if values["article_id"] is not None:
        return "article"
    return "direct"


def _elapsed(values, since, until):
    # In UTC: Python subtracts two datetimes of the same time zone on the wall clock, an hour out
    # across a change of the clocks.
    return values[until].astimezone(UTC) - values[since].astimezone(UTC)


def stage_times(values):
    """{stage: time it took from the stage before}, as queries.funnel defines the stages."""
    times = {}
    if values["contacted_at"] is not None:
        times["contacted"] = _elapsed(values, "created_at", "contacted_at")
        if values["quoted_at"] is not None:
            times["quoted"] = _elapsed(values, "contacted_at", "quoted_at")
    won = values["status"] == Lead.Status.WON
    if won and values["quoted_at"] is not None and values["closed_at"] is not None:
        times["won"] = _elapsed(values, "quoted_at", "closed_at")
    return times


def periods(day):
    """The day itself and the Monday of its week."""
    return ((day, 1), (day - timedelta(days=day.weekday()), 7))


def local_day(moment):
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def contributions(values):
    """What one lead adds: ({LeadTally key: counts}, {StageTally key: n}); nothing for spam, or
    for a lead the tally job has not counted yet."""
    if values["status"] == Lead.Status.SPAM or not values.get("tallied", True):
        return {}, {}
    day = local_day(values["created_at"])
    kind, source = values["kind"], source_of(values)
    counts = (
        1,
        int(values["contacted_at"] is not None),
        int(values["quoted_at"] is not None),
        int(values["status"] == Lead.Status.WON),
    )
    times = stage_times(values)
    leads, stages = {}, {}
    for first, days in periods(day):
        leads[(days, first, kind, source, values["article_id"] or 0)] = counts
        for stage, took in times.items():
            stages[(days, first, kind, source, stage, bucket_of(took))] = (1,)
    return leads, stages


def _values_of(lead):
    return {**{name: getattr(lead, name) for name in FIELDS}, "tallied": lead.tallied}


def _stored(lead_ids):
    leads = Lead.objects.filter(pk__in=lead_ids)
    if connection.in_atomic_block:
        # Locked until the change commits: a change made in between would be counted twice.
        leads = leads.select_for_update()
    return {row.pop("id"): row for row in leads.values("id", *FIELDS, "tallied")}


# Leads one transaction of the tally job counts.
TALLY_BATCH = 1000


def tally_new_leads():
    """Count the leads not counted yet (posted by visitors since the last run). Returns how many.

    Waits for a lead another transaction has locked rather than skipping it: the dashboard runs
    this before it reads, and must find every committed lead counted. A lead changed meanwhile is
    counted as it is now.
    """
    counted = 0
    while True:
        with transaction.atomic():
            rows = list(
                Lead.objects.filter(tallied=False)
                .order_by("pk")
                .select_for_update()
                .values("id", *FIELDS)[:TALLY_BATCH]
            )
            if not rows:
                return counted
            lead_ids = [row.pop("id") for row in rows]
            move([], rows)
            Lead.objects.filter(pk__in=lead_ids).update(tallied=True)
        counted += len(lead_ids)


def _add(totals, found, sign):
    for key, counts in found.items():
        total = totals.setdefault(key, [0] * len(counts))
        for index, count in enumerate(counts):
            total[index] += sign * count


def move(before, after):
    """Apply the difference between two lists of lead values (dicts of FIELDS) to the tallies."""
    leads, stages = {}, {}
    for sign, rows in ((-1, before), (1, after)):
        for values in rows:
            lead_counts, stage_counts = contributions(values)
            _add(leads, lead_counts, sign)
            _add(stages, stage_counts, sign)
    _upsert(LeadTally, LEAD_KEY, COUNTS, leads)
    _upsert(StageTally, STAGE_KEY, ("n",), stages)


def _upsert(model, key, counts, totals):
    # Sorted: two transactions moving several rows lock them in the same order (no deadlock).
    changed = sorted((k, total) for k, total in totals.items() if any(total))
    if not changed:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in counts)
    row = "(" + ", ".join(["%s"] * (len(key) + len(counts))) + ")"
    # An upsert that adds, so two transactions changing one row both count.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(key + counts)}) "  # noqa: S608
            f"VALUES {', '.join([row] * len(changed))} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
            [value for k, total in changed for value in (*k, *total)],
        )


@contextmanager
def leads_changing(lead_ids):
    """Around a bulk update of these leads (which sends no signals): move their counts after it."""
    lead_ids = list(lead_ids)
    with transaction.atomic():
        before = _stored(lead_ids)
        yield
        move(before.values(), _stored(lead_ids).values())


# Signal receivers (connected in apps.py).


def _written(update_fields):
    fields = set(update_fields)
    return fields | ({"article_id"} if "article" in fields else set())


def _touches_counts(update_fields):
    return update_fields is None or bool(_written(update_fields) & set(FIELDS))


def lead_pre_save(sender, instance, raw, update_fields, **kwargs):
    instance._insights_before = None
    if raw or instance._state.adding or not _touches_counts(update_fields):
        return
    # What the database holds, not what this instance was loaded with: it may be stale.
    instance._insights_before = before = _stored([instance.pk]).get(instance.pk)
    if before is not None:
        # A full save must not write back a `tallied` the job has changed since the load: the
        # lead would be counted again.
        instance.tallied = before["tallied"]


def lead_post_save(sender, instance, created, raw, update_fields, **kwargs):
    if raw or not (created or _touches_counts(update_fields)):
        return
    before = getattr(instance, "_insights_before", None)
    after = _values_of(instance)
    if before is not None and update_fields is not None:
        # Only these columns were written; the others are still what the database had.
        written = _written(update_fields)
        after = {name: after[name] if name in written else before[name] for name in after}
    move([before] if before else [], [after])
    instance._insights_before = None


def lead_pre_delete(sender, instance, **kwargs):
    instance._insights_before = _stored([instance.pk]).get(instance.pk)


def lead_post_delete(sender, instance, **kwargs):
    before = getattr(instance, "_insights_before", None)
    if before is not None:
        move([before], [])


def article_pre_delete(sender, instance, **kwargs):
    ids = list(Lead.objects.filter(article_id=instance.pk).values_list("pk", flat=True))
    instance._insights_leads = (ids, _stored(ids))


def article_post_delete(sender, instance, **kwargs):
    ids, before = getattr(instance, "_insights_leads", ((), {}))
    if ids:
        move(before.values(), _stored(ids).values())


# Checking and rebuilding.


def counted(leads=None):
    """LeadTally's daily rows as a direct count over the leads has them: {key: counts}."""
    from .queries import LEAD_SOURCE

    leads = Lead.objects.all() if leads is None else leads
    rows = (
        leads.exclude(status=Lead.Status.SPAM)
        .annotate(
            day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()),
            source=LEAD_SOURCE,
        )
        .values("day", "kind", "source", "article_id")
        .annotate(
            leads=Count("id"),
            contacted=Count("id", filter=Q(contacted_at__isnull=False)),
            quoted=Count("id", filter=Q(quoted_at__isnull=False)),
            won=Count("id", filter=Q(status=Lead.Status.WON)),
        )
        .order_by()
    )
    return {
        (1, row["day"], row["kind"], row["source"], row["article_id"] or 0): tuple(
            row[name] for name in COUNTS
        )
        for row in rows
    }


def timed(leads=None):
    """StageTally's daily rows from the leads' own timestamps: {key: (n,)}."""
    leads = Lead.objects.all() if leads is None else leads
    totals = {}
    rows = leads.exclude(status=Lead.Status.SPAM).values(*FIELDS).order_by()
    for values in rows.iterator(chunk_size=10_000):
        day = local_day(values["created_at"])
        for stage, took in stage_times(values).items():
            key = (1, day, values["kind"], source_of(values), stage, bucket_of(took))
            totals[key] = totals.get(key, 0) + 1
    return {key: (n,) for key, n in totals.items()}


def with_weeks(daily):
    """Daily rows plus the weekly rows they add up to."""
    result = dict(daily)
    for (_, day, *rest), counts in daily.items():
        week = (7, day - timedelta(days=day.weekday()), *rest)
        total = result.get(week, (0,) * len(counts))
        result[week] = tuple(a + b for a, b in zip(total, counts, strict=True))
    return result


def _table(model, key, counts):
    return {
        tuple(row[: len(key)]): tuple(row[len(key) :])
        for row in model.objects.values_list(*key, *counts).order_by()
        if any(row[len(key) :])
    }


def _differences(have, want):
    return {
        key: (have.get(key), want.get(key))
        for key in have.keys() | want.keys()
        if have.get(key) != want.get(key)
    }


def check():
    """Where the tallies and a direct count over the leads disagree: {key: (stored, counted)}.
    Counts the leads waiting for the tally job first, as the dashboard does."""
    tally_new_leads()
    return {
        **_differences(_table(LeadTally, LEAD_KEY, COUNTS), with_weeks(counted())),
        **_differences(_table(StageTally, STAGE_KEY, ("n",)), with_weeks(timed())),
    }


@transaction.atomic
def rebuild(lead_model=Lead, lead_tally=LeadTally, stage_tally=StageTally):
    """Recompute the tallies from the leads. Returns how many rows they hold.

    The models are parameters for the migration that fills the tables (historical models)."""
    if connection.vendor == "postgresql":
        # Lead writes wait for the rebuild, so none is counted twice or missed.
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {lead_model._meta.db_table} IN SHARE MODE")
    if any(field.name == "tallied" for field in lead_model._meta.fields):
        lead_model.objects.filter(tallied=False).update(tallied=True)  # all counted below
    written = 0
    for model, key, counts, rows in (
        (lead_tally, LEAD_KEY, COUNTS, counted(lead_model.objects.all())),
        (stage_tally, STAGE_KEY, ("n",), timed(lead_model.objects.all())),
    ):
        model.objects.all().delete()
        objects = [
            model(**dict(zip(key, k, strict=True)), **dict(zip(counts, c, strict=True)))
            for k, c in with_weeks(rows).items()
        ]
        model.objects.bulk_create(objects, batch_size=5000)
        written += len(objects)
    return written
