"""The numbers behind the staff dashboard: each chart is one aggregated query (or a few).

Nothing here loops over rows in Python; loops run over weeks or over the handful of grouped rows
the database returns, so the cost stays the same with a thousand leads or a million.
"""

from datetime import timedelta

from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate, TruncWeek
from django.utils import timezone

from leads.models import Lead
from newsletter.models import Issue, Subscriber
from skilldacity.outbox.models import Email

from . import rollups
from .charts import Chart, Series
from .models import LeadTally, StageTally

# Through the lead's foreign key: the articles admin imports insights, so no import back.
Article = Lead.article.field.related_model

SOURCES = [
    ("referral", "Referral"),
    ("newsletter", "Newsletter"),
    ("campaign", "Campaign (UTM)"),
    ("article", "Article"),
    ("direct", "Direct"),
]
FUNNEL = [("new", "New"), ("contacted", "Contacted"), ("quoted", "Quoted"), ("won", "Won")]
UNSUBSCRIBE_WINDOW = timedelta(days=7)

# A lead's source, first match wins: a referral link beats a campaign, a campaign beats the article
# it landed on, and a lead with none of these came direct.
LEAD_SOURCE = Case(
    When(~Q(referral_code=""), then=Value("referral")),
    When(
        Q(utm_source__iexact="newsletter") | Q(utm_medium__iexact="email"),
        then=Value("newsletter"),
    ),
    When(~Q(utm_source="") | ~Q(utm_campaign=""), then=Value("campaign")),
    When(article__isnull=False, then=Value("article")),
    default=Value("direct"),
    output_field=CharField(),
)


class Filters:
    """The date range and lead filters shared by every chart."""

    def __init__(self, start, end, kind="", source=""):
        self.start, self.end, self.kind, self.source = start, end, kind, source
        self._lead_weeks = None
        # The leads posted since the tally job last ran: counted now, so that every chart
        # equals a direct count (one indexed lookup when there are none).
        rollups.tally_new_leads()

    def tallies(self, model):
        """The tally rows that add up to the range: its whole weeks, and the days at its edges.

        The range is whole local days (the form's), the days the tallies count in."""
        tz = timezone.get_default_timezone()
        start = timezone.localtime(self.start, tz).date()
        end = timezone.localtime(self.end, tz).date()
        first_monday = start + timedelta(days=-start.weekday() % 7)
        weeks_end = end - timedelta(days=end.weekday())
        if first_monday < weeks_end:
            period = (
                Q(days=7, day__gte=first_monday, day__lt=weeks_end)
                | Q(days=1, day__gte=start, day__lt=first_monday)
                | Q(days=1, day__gte=weeks_end, day__lt=end)
            )
        else:
            period = Q(days=1, day__gte=start, day__lt=end)
        rows = model.objects.filter(period)
        if self.kind:
            rows = rows.filter(kind=self.kind)
        if self.source:
            rows = rows.filter(source=self.source)
        return rows

    def lead_weeks(self):
        """Leads, contacted, quoted and won per week, kind and source: one query, shared by the
        lead charts and the funnel."""
        if self._lead_weeks is None:
            self._lead_weeks = list(
                self.tallies(LeadTally)
                .annotate(week=TruncWeek("day"))
                .values("week", "kind", "source")
                .annotate(
                    n=Sum("leads"),
                    contacted=Sum("contacted"),
                    quoted=Sum("quoted"),
                    won=Sum("won"),
                )
                .order_by()
            )
        return self._lead_weeks

    def weeks(self):
        """Monday of every week in the range, oldest first."""
        first = timezone.localtime(self.start).date()
        first -= timedelta(days=first.weekday())
        last = timezone.localtime(self.end - timedelta(microseconds=1)).date()
        weeks = []
        while first <= last:
            weeks.append(first)
            first += timedelta(weeks=1)
        return weeks


def _week_key(value):
    return timezone.localtime(value).date() if hasattr(value, "tzinfo") else value


def _weekly(filters, title, rows, series_names, value_key="n", group_key=None):
    """Turn grouped rows (week, group, value) into a chart with a bar per group and week."""
    weeks = filters.weeks()
    index = {week: position for position, week in enumerate(weeks)}
    values = {name: [0] * len(weeks) for name, _ in series_names}
    for row in rows:
        week = _week_key(row["week"])
        group = row[group_key] if group_key else series_names[0][0]
        if week in index and group in values:
            values[group][index[week]] += row[value_key] or 0
    return Chart(
        title=title,
        labels=[week.strftime("%-d %b") for week in weeks],
        series=[Series(label, values[name]) for name, label in series_names],
    )


def leads_by_kind(filters):
    return _weekly(
        filters, "Leads per week by kind", filters.lead_weeks(), Lead.Kind.choices, group_key="kind"
    )


def leads_by_source(filters):
    return _weekly(
        filters, "Leads per week by source", filters.lead_weeks(), SOURCES, group_key="source"
    )


def median_interval(histogram):
    """The interval the median lies in, from {bucket: count}: (low, high), None for an open end.

    The median of an even count is the mean of the two middle times (as percentile_cont), so it
    lies between the means of their buckets' edges."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = {(total - 1) // 2, total // 2}
    found, seen = [], 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        found += [bucket for rank in sorted(wanted) if seen <= rank < seen + count]
        seen += count
    edges = [rollups.bucket_bounds(bucket) for bucket in found]
    if len(edges) == 1:
        return edges[0]
    (low_a, high_a), (low_b, high_b) = edges
    return (
        None if low_a is None else (low_a + low_b) / 2,
        None if high_b is None else (high_a + high_b) / 2,
    )


def funnel(filters):
    """Leads that reached each stage, conversion from the stage before, and the interval the
    median time it took to get there from the stage before (the time spent in the previous
    stage) lies in: exact medians need every lead's time, which does not stay flat."""
    counts = {
        stage: sum(row[column] for row in filters.lead_weeks())
        for stage, column in (
            ("new", "n"),
            ("contacted", "contacted"),
            ("quoted", "quoted"),
            ("won", "won"),
        )
    }
    histograms = {}
    for row in (
        filters.tallies(StageTally).values("stage", "bucket").annotate(n=Sum("n")).order_by()
    ):
        histograms.setdefault(row["stage"], {})[row["bucket"]] = row["n"]
    stages = []
    previous = None
    for key, label in FUNNEL:
        reached = counts[key]
        rate = None if previous is None else (reached / previous if previous else 0.0)
        median = median_interval(histograms.get(key, {})) if key != "new" else None
        stages.append(
            {"key": key, "label": label, "count": reached, "rate": rate, "median": median}
        )
        previous = reached
    chart = Chart(
        title="Funnel: leads reaching each stage",
        labels=[stage["label"] for stage in stages],
        series=[Series("Leads", [stage["count"] for stage in stages])],
    )
    return chart, stages


def top_articles(filters, limit=10):
    title = Article.objects.filter(pk=OuterRef("article_id")).values("title")[:1]
    rows = list(
        filters.tallies(LeadTally)
        .exclude(article_id=0)
        .values("article_id")
        .annotate(total=Sum("leads"), total_won=Sum("won"), title=Subquery(title))
        # An article deleted, or its last lead: its rows stay, counting 0.
        .filter(total__gt=0)
        .order_by("-total_won", "-total", "title")[:limit]
    )
    return Chart(
        title="Top articles by leads and won deals",
        labels=[row["title"] for row in rows],
        series=[
            Series("Leads", [row["total"] for row in rows]),
            Series("Won", [row["total_won"] for row in rows]),
        ],
    )


def newsletter_weekly(filters):
    in_range = Q(created_at__gte=filters.start, created_at__lt=filters.end)
    signups = (
        Subscriber.objects.filter(in_range)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(n=Count("id"))
        .order_by()
    )
    confirmations = (
        Subscriber.objects.filter(confirmed_at__gte=filters.start, confirmed_at__lt=filters.end)
        .annotate(week=TruncWeek("confirmed_at"))
        .values("week")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = [{**row, "series": "signups"} for row in signups] + [
        {**row, "series": "confirmed"} for row in confirmations
    ]
    return _weekly(
        filters,
        "Newsletter sign-ups and confirmations per week",
        rows,
        [("signups", "Sign-ups"), ("confirmed", "Confirmed")],
        group_key="series",
    )


def unsubscribes_per_issue(filters):
    """Unsubscribes in the week after each update went out."""
    unsubscribed_after = (
        Subscriber.objects.filter(
            unsubscribed_at__gte=OuterRef("send_started_at"),
            unsubscribed_at__lt=OuterRef("send_started_at") + UNSUBSCRIBE_WINDOW,
        )
        .order_by()
        # COUNT as a plain function (not an aggregate) so the subquery has no GROUP BY.
        .annotate(n=Func(F("id"), function="COUNT"))
        .values("n")
    )
    rows = list(
        Issue.objects.filter(send_started_at__gte=filters.start, send_started_at__lt=filters.end)
        .annotate(unsubscribes=Coalesce(Subquery(unsubscribed_after, IntegerField()), 0))
        .order_by("send_started_at")
        .values("subject", "recipients_total", "unsubscribes")
    )
    return Chart(
        title="Unsubscribes in the week after each update",
        labels=[row["subject"] for row in rows],
        series=[Series("Unsubscribes", [row["unsubscribes"] for row in rows])],
    )


def skillpoints_weekly(filters):
    from referrals.models import LedgerEntry

    Kind = LedgerEntry.Kind
    rows = (
        LedgerEntry.objects.filter(created_at__gte=filters.start, created_at__lt=filters.end)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(
            awarded=Coalesce(Sum("amount", filter=Q(kind=Kind.REFERRAL_AWARD)), 0),
            redeemed=Coalesce(-Sum("amount", filter=Q(kind__in=[Kind.REDEMPTION, Kind.REFUND])), 0),
        )
        .order_by()
    )
    rows = list(rows)
    chart = _weekly(
        filters,
        "SkillPoints awarded and redeemed per week",
        [{**row, "series": "awarded", "n": row["awarded"]} for row in rows]
        + [{**row, "series": "redeemed", "n": row["redeemed"]} for row in rows],
        [("awarded", "Awarded"), ("redeemed", "Redeemed")],
        group_key="series",
    )
    return chart


def top_referrers(filters, limit=10):
    from referrals.models import LedgerEntry

    rows = list(
        LedgerEntry.objects.filter(
            created_at__gte=filters.start,
            created_at__lt=filters.end,
            kind=LedgerEntry.Kind.REFERRAL_AWARD,
        )
        .values("account__user__email")
        .annotate(points=Sum("amount"), referrals=Count("id"))
        .order_by("-points", "account__user__email")[:limit]
    )
    return Chart(
        title="Top referrers by SkillPoints earned",
        labels=[row["account__user__email"] for row in rows],
        series=[
            Series("Points", [row["points"] for row in rows]),
            Series("People referred", [row["referrals"] for row in rows]),
        ],
    )


def outbox_health(filters):
    """Sent and failed per day in the range, and what waits right now."""
    rows = (
        Email.objects.filter(created_at__gte=filters.start, created_at__lt=filters.end)
        .filter(status__in=[Email.Status.SENT, Email.Status.FAILED])
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    days = []
    day = timezone.localtime(filters.start).date()
    last = timezone.localtime(filters.end - timedelta(microseconds=1)).date()
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    index = {day: position for position, day in enumerate(days)}
    values = {Email.Status.SENT: [0] * len(days), Email.Status.FAILED: [0] * len(days)}
    for row in rows:
        if row["day"] in index:
            values[row["status"]][index[row["day"]]] += row["n"]
    # Only the pending and failed rows (the status index): sent mail piles up forever.
    now_counts = Email.objects.filter(
        status__in=[Email.Status.PENDING, Email.Status.FAILED]
    ).aggregate(
        pending=Count("id", filter=Q(status=Email.Status.PENDING)),
        overdue=Count(
            "id",
            filter=Q(
                status=Email.Status.PENDING, send_after__lt=timezone.now() - timedelta(minutes=10)
            ),
        ),
        failed=Count("id", filter=Q(status=Email.Status.FAILED)),
    )
    chart = Chart(
        title="E-mail outbox: sent and failed per day",
        labels=[day.strftime("%-d %b") for day in days],
        series=[
            Series("Sent", values[Email.Status.SENT]),
            Series("Failed", values[Email.Status.FAILED]),
        ],
    )
    return chart, now_counts


def article_results(article_id):
    """What one article brought in: leads, quotes, won deals and newsletter sign-ups."""
    results = (
        Lead.objects.filter(article_id=article_id)
        .exclude(status=Lead.Status.SPAM)
        .aggregate(
            leads=Count("id"),
            quotes=Count("id", filter=Q(kind=Lead.Kind.QUOTE)),
            won=Count("id", filter=Q(status=Lead.Status.WON)),
        )
    )
    results.update(
        Subscriber.objects.filter(article_id=article_id).aggregate(
            signups=Count("id"),
            confirmed=Count("id", filter=Q(confirmed_at__isnull=False)),
        )
    )
    return results
