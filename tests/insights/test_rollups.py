"""The dashboard reads tallies (insights/rollups.py); these tests hold them to a direct count over
the leads, on generated data that goes through what changes leads in real life."""

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Q
from django.db.models.functions import TruncWeek

from articles.models import Article
from insights import queries, rollups
from insights.forms import InsightsFilterForm
from insights.models import LeadTally
from leads import services
from leads.models import Lead

from .conftest import make_lead

LONDON = ZoneInfo("Europe/London")
# British Summer Time ends on 25 October 2026: local midnight is 23:00 UTC before, 00:00 after.
EDGES = [
    datetime(2026, 10, 24, 23, 30, tzinfo=LONDON),
    datetime(2026, 10, 25, 0, 0, tzinfo=LONDON),
    datetime(2026, 10, 25, 23, 59, 59, tzinfo=LONDON),
    datetime(2026, 10, 26, 0, 0, tzinfo=LONDON),  # a Monday: a week's first instant
    datetime(2026, 9, 6, 23, 59, tzinfo=LONDON),  # a Sunday night: a week's last minute
    datetime(2026, 9, 7, 0, 0, 30, tzinfo=LONDON),
]
UTM = [
    {},
    {"utm_source": "linkedin"},
    {"utm_source": "NewsLetter"},
    {"utm_medium": "Email", "utm_source": "x"},
    {"utm_campaign": "spring"},
]


def _generate(articles, count=120, seed=14):
    rng = random.Random(seed)
    start = datetime(2026, 8, 1, tzinfo=LONDON)
    leads = []
    for number in range(count):
        created = (
            EDGES[number]
            if number < len(EDGES)
            else start + timedelta(minutes=rng.randrange(0, 120 * 24 * 60))
        )
        fields = {
            "kind": rng.choice(["callback", "quote"]),
            "email": f"gen{number % 40}@example.com",
            "created_at": created,
            "contact_due_at": created + timedelta(days=1),
            "article": rng.choice([None, *articles]),
            "referral_code": rng.choice(["", "", "", "REF1"]),
            **rng.choice(UTM),
        }
        stage = rng.randrange(5)
        if stage >= 1:
            fields["contacted_at"] = created + timedelta(minutes=rng.randrange(-30, 5000))
            fields["status"] = "contacted"
        if stage >= 2:
            fields["quoted_at"] = fields["contacted_at"] + timedelta(hours=rng.randrange(0, 400))
            fields["status"] = "quoted"
        if stage >= 3:
            fields["closed_at"] = fields["quoted_at"] + timedelta(hours=rng.randrange(1, 900))
            fields["status"] = rng.choice(["won", "lost"])
        if stage == 4 and rng.random() < 0.5:
            fields["status"] = "spam"
        leads.append(make_lead(**fields))
    return leads


@pytest.fixture
def lived_in_leads(db, django_user_model):
    """Generated leads, then what happens to leads: the pipeline, spam and back, erasure on
    request and by retention, deletion, an article deleted, an admin edit, a full save."""
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    articles = [
        Article.objects.create(
            title=f"Article {n}", slug=f"article-{n}", body="x", status="published"
        )
        for n in range(3)
    ]
    leads = _generate(articles)
    new = [lead for lead in leads if lead.status == "new"]
    for lead in new[:6]:
        services.lead_transition(lead_id=lead.pk, to_status="contacted", actor=staff)
    for lead in new[:3]:
        services.lead_transition(lead_id=lead.pk, to_status="quoted", actor=staff)
    services.lead_transition(lead_id=new[0].pk, to_status="won", actor=staff)
    services.lead_transition(lead_id=new[6].pk, to_status="spam", actor=staff)
    services.lead_transition(lead_id=new[7].pk, to_status="spam", actor=staff)
    services.lead_transition(lead_id=new[7].pk, to_status="new", actor=staff)
    services.person_erase(email="gen3@example.com", actor=staff)
    services.leads_anonymise_expired(now=datetime(2028, 8, 20, tzinfo=LONDON))
    leads[10].delete()
    Lead.objects.filter(email="gen5@example.com").delete()
    articles[0].delete()
    stale = Lead.objects.get(pk=leads[20].pk)
    stale.phone = "+447911123456"
    stale.save(update_fields=["phone"])
    moved = Lead.objects.get(pk=leads[21].pk)
    moved.kind, moved.utm_source = "quote", "linkedin"
    moved.created_at -= timedelta(days=9)
    moved.save()
    # Leads visitors posted, which the tally job counts (here: the dashboard, before it reads),
    # changed, erased and deleted before it ran.
    posted = [post_lead(f"posted{n}@example.com", at=EDGES[n]) for n in range(5)]
    services.lead_transition(lead_id=posted[0].pk, to_status="contacted", actor=staff)
    services.lead_transition(lead_id=posted[0].pk, to_status="quoted", actor=staff)
    services.lead_transition(lead_id=posted[1].pk, to_status="spam", actor=staff)
    services.person_erase(email="posted2@example.com", actor=staff)
    posted[3].delete()
    return leads + posted


def post_lead(email, *, at=None, kind=Lead.Kind.QUOTE):
    """A lead as the form stores it (services.lead_submit), created at `at`."""
    from unittest import mock

    from django.utils import timezone

    from leads.demo import seed_catalogue
    from leads.models import Course, DevicePlatform

    seed_catalogue()
    with mock.patch.object(timezone, "now", lambda: at or timezone.localtime()):
        lead, created = services.lead_submit(
            kind=kind,
            fields={
                "name": "Visitor",
                "email": email,
                "phone": "",
                "platform": DevicePlatform.objects.first(),
                "message": "",
            },
            courses=[Course.objects.first()],
            consent_text="I agree",
            attribution={"utm_source": "linkedin"},
            source_path="/quote/",
            article=None,
            ip="10.0.0.1",
        )
    assert created
    return lead


def _period(start, end):
    form = InsightsFilterForm({"start": start.isoformat(), "end": end.isoformat()})
    assert form.is_valid(), form.errors
    return form.period()


def _raw_leads(filters):
    leads = (
        Lead.objects.filter(created_at__gte=filters.start, created_at__lt=filters.end)
        .exclude(status=Lead.Status.SPAM)
        .annotate(source=queries.LEAD_SOURCE)
    )
    if filters.kind:
        leads = leads.filter(kind=filters.kind)
    if filters.source:
        leads = leads.filter(source=filters.source)
    return leads


def _raw_weekly(filters, group, series, title):
    rows = (
        _raw_leads(filters)
        .annotate(week=TruncWeek("created_at"))
        .values("week", group)
        .annotate(n=Count("id"))
        .order_by()
    )
    return queries._weekly(filters, title, rows, series, group_key=group).rows()


def _raw_median(times):
    times = sorted(times)
    if not times:
        return None
    return (times[(len(times) - 1) // 2] + times[len(times) // 2]) / 2


RANGES = [
    (date(2026, 8, 1), date(2026, 11, 30)),  # everything
    (date(2026, 10, 25), date(2026, 10, 25)),  # one day, the clocks going back
    (date(2026, 10, 24), date(2026, 10, 26)),  # a weekend and a Monday
    (date(2026, 9, 2), date(2026, 10, 28)),  # Wednesday to Wednesday: days at both edges
    (date(2026, 9, 7), date(2026, 10, 25)),  # Monday to Sunday: whole weeks only
]


@pytest.mark.parametrize("start,end", RANGES)
@pytest.mark.parametrize("kind,source", [("", ""), ("quote", ""), ("", "article"), ("", "direct")])
def test_the_dashboard_numbers_equal_a_direct_count_over_the_leads(
    lived_in_leads, start, end, kind, source
):
    filters = queries.Filters(*_period(start, end), kind=kind, source=source)
    raw = _raw_leads(filters)

    assert queries.leads_by_kind(filters).rows() == _raw_weekly(
        filters, "kind", Lead.Kind.choices, ""
    )
    assert queries.leads_by_source(filters).rows() == _raw_weekly(
        filters, "source", queries.SOURCES, ""
    )
    _, stages = queries.funnel(filters)
    assert [stage["count"] for stage in stages] == list(
        raw.aggregate(
            new=Count("id"),
            contacted=Count("id", filter=Q(contacted_at__isnull=False)),
            quoted=Count("id", filter=Q(quoted_at__isnull=False)),
            won=Count("id", filter=Q(status=Lead.Status.WON)),
        ).values()
    )
    top = (
        raw.filter(article__isnull=False)
        .values("article__title")
        .annotate(leads=Count("id"), won=Count("id", filter=Q(status=Lead.Status.WON)))
        .order_by("-won", "-leads", "article__title")[:10]
    )
    assert queries.top_articles(filters).rows() == [
        [row["article__title"], row["leads"], row["won"]] for row in top
    ]
    # Each median lies in the interval the funnel gives for it.
    values = list(raw.values(*rollups.FIELDS))
    for stage in stages[1:]:
        median = _raw_median(
            [t for v in values for s, t in rollups.stage_times(v).items() if s == stage["key"]]
        )
        if median is None:
            assert stage["median"] is None
            continue
        low, high = stage["median"]
        assert (low is None or low <= median) and (high is None or median < high), stage


def test_the_tallies_equal_a_direct_count_and_the_command_says_so(lived_in_leads, capsys):
    assert LeadTally.objects.filter(days=7).exists()
    assert rollups.check() == {}
    call_command("insights_rollup")
    assert "match" in capsys.readouterr().out


def test_a_change_behind_the_tallies_back_is_reported_and_a_rebuild_mends_it(lived_in_leads):
    # A raw UPDATE (a data fix in psql, a bulk load) sends no signals.
    Lead.objects.filter(pk=lived_in_leads[30].pk).update(kind="callback", status="won")
    Lead.objects.filter(pk=lived_in_leads[31].pk).update(kind="quote", status="won")
    with pytest.raises(CommandError, match="differ"):
        call_command("insights_rollup")
    call_command("insights_rollup", "--rebuild")
    assert rollups.check() == {}


def test_a_posted_lead_is_counted_by_the_job_not_by_its_post(db, django_user_model):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    lead = post_lead("new@example.com", at=EDGES[3])
    assert not lead.tallied and not LeadTally.objects.exists()
    services.lead_transition(lead_id=lead.pk, to_status="contacted", actor=staff)
    assert not LeadTally.objects.exists(), "a lead not counted yet had its counts moved"

    assert rollups.tally_new_leads() == 1
    assert rollups.tally_new_leads() == 0
    week = LeadTally.objects.get(days=7)
    assert (week.leads, week.contacted, week.quoted, week.source) == (1, 1, 0, "campaign")
    assert rollups.check() == {}
    services.lead_transition(lead_id=lead.pk, to_status="quoted", actor=staff)
    assert LeadTally.objects.get(days=7).quoted == 1
    assert rollups.check() == {}


def test_the_dashboard_counts_the_leads_posted_since_the_job_ran(
    client, django_user_model, frozen_today
):
    post_lead("new@example.com", at=frozen_today - timedelta(days=1))
    client.force_login(django_user_model.objects.create_user("boss", is_staff=True))
    response = client.get("/admin/insights/")
    assert response.status_code == 200
    assert [stage["count"] for stage in response.context["stages"]][0] == 1
    assert Lead.objects.get().tallied


def test_a_stale_full_save_after_the_job_does_not_count_the_lead_again(db):
    lead = post_lead("new@example.com", at=EDGES[3])
    stale = Lead.objects.get(pk=lead.pk)  # loaded before the job: tallied is False
    rollups.tally_new_leads()
    stale.message = "Edited in the admin"
    stale.save()
    assert Lead.objects.get(pk=lead.pk).tallied
    assert rollups.tally_new_leads() == 0
    assert LeadTally.objects.get(days=7).leads == 1
    assert rollups.check() == {}


def test_the_python_source_is_the_sql_source(lived_in_leads):
    """Saves count a lead's source in Python, the check and the rebuild in SQL."""
    for lead in Lead.objects.annotate(source=queries.LEAD_SOURCE):
        assert rollups.source_of(rollups._values_of(lead)) == lead.source


def test_the_query_count_is_the_same_for_twelve_weeks_and_two_years(
    client, django_user_model, lived_in_leads, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(django_user_model.objects.create_user("boss", is_staff=True))
    rollups.tally_new_leads()  # the posted leads: the first read would count them
    with CaptureQueriesContext(connection) as short:
        client.get("/admin/insights/", {"start": "2026-09-01", "end": "2026-11-23"})
    with django_assert_num_queries(len(short.captured_queries)):
        client.get("/admin/insights/", {"start": "2024-11-23", "end": "2026-11-23"})


def test_the_median_interval_reads_open_ends():
    from insights.templatetags.insights_tags import duration_between

    last = len(rollups.BOUNDS) - 1
    assert queries.median_interval({}) is None
    # Odd: the middle time's bucket. Even: between the means of the two middle buckets' edges.
    assert queries.median_interval({7: 1, 9: 1, 30: 1}) == rollups.bucket_bounds(9)
    assert duration_between(queries.median_interval({-1: 2, 3: 1})) == "under 0 min"
    assert duration_between(queries.median_interval({last: 3})) == "365 d 0 h or more"
    assert duration_between(queries.median_interval({7: 1, 9: 1})) == "1 h 30 min to 2 h 15 min"
