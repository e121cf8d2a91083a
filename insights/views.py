import csv

from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache

from . import queries
from .forms import InsightsFilterForm


@never_cache
def dashboard(request):
    """Staff dashboard: from article to lead to won deal to referral. Wrapped by admin_view."""
    form = InsightsFilterForm(request.GET)
    form.is_valid()
    start, end = form.period()
    filters = queries.Filters(
        start,
        end,
        kind=form.cleaned_data.get("kind", ""),
        source=form.cleaned_data.get("source", ""),
    )
    funnel_chart, stages = queries.funnel(filters)
    outbox_chart, outbox_now = queries.outbox_health(filters)
    charts = {
        "leads-by-kind": queries.leads_by_kind(filters),
        "leads-by-source": queries.leads_by_source(filters),
        "funnel": funnel_chart,
        "top-articles": queries.top_articles(filters),
        "newsletter": queries.newsletter_weekly(filters),
        "unsubscribes": queries.unsubscribes_per_issue(filters),
        "skillpoints": queries.skillpoints_weekly(filters),
        "top-referrers": queries.top_referrers(filters),
        "outbox": outbox_chart,
    }
    wanted = request.GET.get("csv")
    if wanted in charts:
        return _csv(charts[wanted], wanted)
    query = request.GET.copy()
    query.pop("csv", None)
    from django.contrib import admin

    context = {
        **admin.site.each_context(request),
        "title": "Staff insights",
        "is_nav_sidebar_enabled": False,
        "form": form,
        "charts": charts,
        "stages": stages,
        "outbox_now": outbox_now,
        "query": query.urlencode(),
        "start": start,
        "end": end,
    }
    return TemplateResponse(request, "insights/dashboard.html", context)


def _csv(chart, name):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    writer.writerow([header or "label" for header in chart.headers])
    for row in chart.rows():
        # A leading =, +, - or @ would run as a formula in a spreadsheet.
        writer.writerow([_spreadsheet_safe(cell) for cell in row])
    return response


def _spreadsheet_safe(value):
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else value
