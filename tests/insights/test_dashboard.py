import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse

from newsletter.models import Issue, Subscriber
from skilldacity.outbox.models import Email

from .conftest import T0, make_lead

URL = "/admin/insights/"


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_user("boss", password="pw-12345-long", is_staff=True)
    client.force_login(staff)
    return client


def test_dashboard_is_staff_only(client, django_user_model, db):
    assert client.get(URL).status_code == 302
    assert reverse("admin:login") in client.get(URL)["Location"]
    visitor = django_user_model.objects.create_user("visitor", password="pw-12345-long")
    client.force_login(visitor)
    response = client.get(URL)
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_admin_index_links_to_the_dashboard(staff_client):
    assert URL in staff_client.get("/admin/").content.decode()


def test_funnel_counts_conversions_and_medians_on_known_data(
    staff_client, known_funnel, frozen_today
):
    """new 5 (spam left out) → contacted 3 → quoted 2 → won 1; medians by hand:
    time in new 2h/4h/6h → 4 h; contacted→quoted 1d/3d → 2 d; quoted→won 2 d. The page gives
    the interval of the histogram (rollups.BOUNDS) the median lies in: 4 h is in [4 h, 5 h);
    2 d, the mean of 1 d in [1 d, 30 h) and 3 d in [3 d, 4 d), in [2 d, 2 d 15 h)."""
    stages = {s["key"]: s for s in staff_client.get(URL).context["stages"]}
    assert [stages[k]["count"] for k in ("new", "contacted", "quoted", "won")] == [5, 3, 2, 1]
    assert stages["contacted"]["rate"] == pytest.approx(0.6)
    assert stages["quoted"]["rate"] == pytest.approx(2 / 3)
    assert stages["won"]["rate"] == pytest.approx(0.5)
    assert stages["new"]["median"] is None
    hours = [timedelta(hours=n) for n in (4, 5, 48, 63, 48, 60)]
    assert stages["contacted"]["median"] == tuple(hours[0:2])
    assert stages["quoted"]["median"] == tuple(hours[2:4])
    assert stages["won"]["median"] == tuple(hours[4:6])
    html = staff_client.get(URL).content.decode()
    assert "60%" in html and "4 h 0 min to 5 h 0 min" in html


def test_leads_by_source_and_kind_and_top_articles(staff_client, known_funnel, frozen_today):
    charts = staff_client.get(URL).context["charts"]
    by_source = {s.name: sum(s.values) for s in charts["leads-by-source"].series}
    assert by_source == {
        "Referral": 1,
        "Newsletter": 0,
        "Campaign (UTM)": 1,
        "Article": 2,
        "Direct": 1,
    }
    by_kind = {s.name: sum(s.values) for s in charts["leads-by-kind"].series}
    assert by_kind == {"Callback": 2, "Quote": 3}
    assert charts["top-articles"].rows() == [["ML careers", 2, 1]]


def test_filters_apply_to_the_lead_charts(staff_client, known_funnel, frozen_today):
    response = staff_client.get(URL, {"kind": "quote"})
    stages = {s["key"]: s["count"] for s in response.context["stages"]}
    assert stages == {"new": 3, "contacted": 2, "quoted": 2, "won": 1}
    response = staff_client.get(URL, {"source": "article"})
    assert response.context["stages"][0]["count"] == 2


def test_date_range_excludes_leads_outside_it(staff_client, known_funnel, frozen_today):
    before = (T0 - timedelta(days=30)).date().isoformat()
    response = staff_client.get(URL, {"start": before, "end": before})
    assert response.context["stages"][0]["count"] == 0


def test_bad_filter_input_gives_a_page_with_an_error_not_a_500(staff_client, frozen_today):
    response = staff_client.get(URL, {"start": "2026-12-01", "end": "2026-01-01", "kind": "x<"})
    assert response.status_code == 200
    assert "The start date must be on or before the end date." in response.content.decode()


def test_newsletter_outbox_numbers(staff_client, frozen_today, db):
    for n in range(3):
        Subscriber.objects.create(
            email=f"s{n}@example.com",
            created_at=T0,
            confirmed_at=T0 + timedelta(hours=1) if n < 2 else None,
            status="confirmed" if n < 2 else "pending",
        )
    issue = Issue.objects.create(subject="October update", body="x", send_started_at=T0)
    Subscriber.objects.filter(email="s0@example.com").update(
        status="unsubscribed", unsubscribed_at=T0 + timedelta(days=2)
    )
    for n, status in enumerate(["sent", "sent", "failed"]):
        Email.objects.create(
            key=f"k{n}",
            to="a@example.com",
            template="t",
            status=status,
            created_at=T0,
            sent_at=T0 if status == "sent" else None,
        )
    context = staff_client.get(URL).context
    weekly = {s.name: sum(s.values) for s in context["charts"]["newsletter"].series}
    assert weekly == {"Sign-ups": 3, "Confirmed": 2}
    assert context["charts"]["unsubscribes"].rows() == [[issue.subject, 1]]
    outbox = {s.name: sum(s.values) for s in context["charts"]["outbox"].series}
    assert outbox == {"Sent": 2, "Failed": 1}
    assert context["outbox_now"]["failed"] == 1


def test_every_chart_downloads_as_csv(staff_client, known_funnel, frozen_today):
    charts = staff_client.get(URL).context["charts"]
    for key in charts:
        response = staff_client.get(URL, {"csv": key})
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0][0] == "label"
        assert len(rows) == len(charts[key].rows()) + 1
    funnel = list(
        csv.reader(io.StringIO(staff_client.get(URL, {"csv": "funnel"}).content.decode()))
    )
    assert funnel[1:] == [["New", "5"], ["Contacted", "3"], ["Quoted", "2"], ["Won", "1"]]


def test_query_count_does_not_grow_with_the_data(
    staff_client, known_funnel, frozen_today, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        staff_client.get(URL)
    for n in range(40):
        make_lead(
            kind="quote",
            status="won",
            contacted_at=T0,
            quoted_at=T0,
            closed_at=T0,
            email=f"many{n}@example.com",
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        staff_client.get(URL)


def test_skillpoints_awarded_redeemed_and_top_referrers(
    staff_client, frozen_today, django_user_model
):
    from referrals.models import LedgerEntry
    from referrals.services.accounts import account_create
    from referrals.services.ledger import ledger_post

    award, redemption = LedgerEntry.Kind.REFERRAL_AWARD, LedgerEntry.Kind.REDEMPTION
    ada = account_create(user=django_user_model.objects.create_user("ada", "ada@example.com"))
    bob = account_create(user=django_user_model.objects.create_user("bob", "bob@example.com"))
    for n in range(3):
        ledger_post(account_id=ada.pk, amount=100, kind=award, key=f"a{n}")
    ledger_post(account_id=bob.pk, amount=100, kind=award, key="b0")
    ledger_post(account_id=ada.pk, amount=-250, kind=redemption, key="r0")
    charts = staff_client.get(URL).context["charts"]
    totals = {s.name: sum(s.values) for s in charts["skillpoints"].series}
    assert totals == {"Awarded": 400, "Redeemed": 250}
    assert charts["top-referrers"].rows() == [
        ["ada@example.com", 300, 3],
        ["bob@example.com", 100, 1],
    ]


def test_chart_texts_are_escaped(staff_client, frozen_today, db):
    from articles.models import Article

    article = Article.objects.create(
        title="<script>alert(1)</script> & co", slug="x", body="x", status="published"
    )
    make_lead(article=article)
    html = staff_client.get(URL).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
