"""The leads CSV export (the changelist's "Export" link and action in the admin)."""

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone

from .models import Lead

Status = Lead.Status
CSV_COLUMNS = [
    ("id", "ID"), ("kind", "Kind"), ("status", "Status"), ("created_at", "Received"),
    ("overdue", "Overdue"), ("assigned_to", "Assigned to"), ("name", "Name"), ("email", "E-mail"),
    ("phone", "Phone"), ("organisation", "Organisation"), ("learners", "Learners"),
    ("courses", "Courses"), ("platform", "Platform"), ("call_time", "Best time to call"),
    ("call_timezone", "Time zone"), ("delivery", "Delivery"), ("timeframe", "Timeframe"),
    ("message", "Message"), ("article", "Article"), ("source_path", "Page"),
    ("utm_source", "UTM source"), ("utm_medium", "UTM medium"),
    ("utm_campaign", "UTM campaign"), ("referrer", "Referrer"),
    ("referral_code", "Referral code"),
]  # fmt: skip


def leads_csv_response(queryset):
    """The leads as a streamed CSV download, one query per 500 rows."""
    queryset = queryset.select_related("platform", "assigned_to", "article").prefetch_related(
        "courses"
    )
    echo = _Echo()
    writer = csv.writer(echo)
    now = timezone.now()

    def rows():
        yield writer.writerow([label for _, label in CSV_COLUMNS])
        for lead in queryset.iterator(chunk_size=500):
            yield writer.writerow(
                [_csv_safe(_csv_value(lead, name, now)) for name, _ in CSV_COLUMNS]
            )

    stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    return response


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer rows."""

    def write(self, value):
        return value


def _csv_safe(value):
    """Stop spreadsheet formula injection from visitor-typed text (=, +, -, @ at the start)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_value(lead, name, now):
    match name:
        case "kind" | "status" | "call_time" | "delivery" | "timeframe":
            return getattr(lead, f"get_{name}_display")() if getattr(lead, name) else ""
        case "created_at":
            return timezone.localtime(lead.created_at).strftime("%Y-%m-%d %H:%M")
        case "overdue":
            return "yes" if lead.status == Status.NEW and lead.contact_due_at < now else ""
        case "assigned_to":
            return lead.assigned_to.get_username() if lead.assigned_to else ""
        case "courses":
            return "; ".join(course.title for course in lead.courses.all())
        case "platform":
            return lead.platform.name if lead.platform else ""
        case "article":
            return lead.article.title if lead.article else ""
    return getattr(lead, name)
