import csv
from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .models import ApiKey, DiscountCode, Issue, Subscriber
from .tasks import enqueue_issue

CSV_FIELDS = [
    "email",
    "first_name",
    "status",
    "source",
    "created_at",
    "consent_at",
    "consent_ip",
    "confirmed_at",
    "unsubscribed_at",
]


class _Echo:
    def write(self, value):
        return value


@admin.action(description="Export selected subscribers as CSV")
def export_csv(modeladmin, request, queryset):
    """Streams, so exporting the whole list does not hold it in memory."""
    writer = csv.writer(_Echo())
    rows = queryset.order_by("pk").values_list(*CSV_FIELDS).iterator(chunk_size=2000)

    def lines():
        yield writer.writerow(CSV_FIELDS)
        for row in rows:
            yield writer.writerow(["" if value is None else value for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="subscribers-{stamp}.csv"'
    return response


class DiscountCodeInline(admin.StackedInline):
    model = DiscountCode
    fk_name = "subscriber"
    extra = 0
    can_delete = False
    readonly_fields = ["code", "percent_off", "expires_at", "redeemed_at", "order_reference"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "status", "source", "created_at", "confirmed_at"]
    list_filter = ["status", "source", "created_at", "confirmed_at", "unsubscribed_at"]
    search_fields = ["email", "first_name"]
    date_hierarchy = "created_at"
    actions = [export_csv]
    inlines = [DiscountCodeInline]
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = [
        "email",
        "status",
        "source",
        "consent_text",
        "consent_at",
        "consent_ip",
        "attribution",
        "confirmation_sends",
        "last_confirmation_sent_at",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "undeliverable_reason",
    ]
    exclude = ["token_nonce"]

    def has_add_permission(self, request):
        # People join through double opt-in only: staff cannot give consent for them.
        return False


class CodeStateFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("redeemed", "Redeemed"), ("expired", "Expired, unused")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(redeemed_at__isnull=True, expires_at__gt=now)
        if self.value() == "redeemed":
            return queryset.filter(redeemed_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(redeemed_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(DiscountCode)
class DiscountCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "subscriber", "state_display", "expires_at", "redeemed_at"]
    list_filter = [CodeStateFilter, "expires_at"]
    list_select_related = ["subscriber"]
    search_fields = ["code", "subscriber__email", "order_reference"]
    actions = ["mark_redeemed"]
    readonly_fields = [
        "code",
        "subscriber",
        "percent_off",
        "expires_at",
        "created_at",
        "redeemed_at",
        "redeemed_via",
        "redeemed_by",
    ]
    fields = [*readonly_fields[:6], "order_reference", *readonly_fields[6:]]

    def has_add_permission(self, request):
        return False

    @admin.display(description="status")
    def state_display(self, obj):
        return obj.state

    def get_search_results(self, request, queryset, search_term):
        # Codes are stored upper-case; staff may type them in any case and spacing.
        normalized = services.normalize_code(search_term)
        if normalized.startswith(services.CODE_PREFIX):
            return queryset.filter(code=normalized), False
        return super().get_search_results(request, queryset, search_term)

    @admin.action(description="Mark selected codes redeemed (e.g. used by phone order)")
    def mark_redeemed(self, request, queryset):
        for code in queryset:
            answer = services.code_redeem(code=code.code, user=request.user)
            level = messages.SUCCESS if answer.ok else messages.WARNING
            self.message_user(request, f"{code.code}: {answer.outcome.replace('_', ' ')}", level)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        api_key, raw = services.apikey_create(name=obj.name)
        obj.pk = api_key.pk
        obj.prefix, obj.key_hash = api_key.prefix, api_key.key_hash
        self.message_user(
            request,
            f"The key for {api_key.name} is {raw} . Copy it now: it is not stored and will not "
            "be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} key(s) revoked.")


@admin.register(Issue)
class IssueAdmin(admin.ModelAdmin):
    list_display = ["subject", "status", "progress_display", "send_started_at", "enqueued_at"]
    list_filter = ["status"]
    search_fields = ["subject"]
    raw_id_fields = ["featured_articles"]
    change_form_template = "newsletter/admin/issue_change_form.html"
    list_per_page = 25
    fields = [
        "subject",
        "body",
        "featured_articles",
        "send_rate_per_minute",
        "status",
        "progress_display",
        "send_started_at",
        "enqueued_at",
        "created_by",
    ]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["status", "progress_display", "send_started_at", "enqueued_at", "created_by"]
        if obj is not None and obj.status != Issue.Status.DRAFT:
            return ["subject", "body", "featured_articles", *fixed]
        return fixed

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            return super().save_model(request, obj, form, change)
        # While it is sent, the workers write the issue's position and rate window on this row:
        # a full save of what this form loaded would put them back.
        concrete = {field.name for field in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in concrete]
        if changed:
            obj.save(update_fields=[*changed, "updated_at"])
        return None

    def has_delete_permission(self, request, obj=None):
        # A sent issue is a record of what people received; only drafts may go.
        if obj is not None and obj.status != Issue.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One query for the progress of every issue on the page, not one per row.
        progress = services.issues_progress(changelist.result_list)
        for issue in changelist.result_list:
            issue.progress = progress.get(issue.pk)
        return changelist

    @admin.display(description="progress (sent / total)")
    def progress_display(self, obj):
        if obj is None or obj.pk is None or obj.status == Issue.Status.DRAFT:
            return "not sent"
        progress = getattr(obj, "progress", None) or services.issue_progress(obj)
        percent = progress["sent"] * 100 // progress["total"] if progress["total"] else 100
        extra = ""
        if progress["failed"] or progress["cancelled"]:
            extra = f" ({progress['failed']} failed, {progress['cancelled']} unsubscribed)"
        return format_html(
            '<progress max="100" value="{}"></progress> {} / {}{}',
            percent,
            progress["sent"],
            progress["total"],
            extra,
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/send/", view(self.send_view), name="newsletter_issue_send"),
            path("<int:pk>/send-test/", view(self.send_test_view), name="newsletter_issue_test"),
            *super().get_urls(),
        ]

    def _issue_for_change(self, request, pk):
        issue = get_object_or_404(Issue, pk=pk)
        if not self.has_change_permission(request, issue):
            raise PermissionDenied
        return issue

    def send_test_view(self, request, pk):
        issue = self._issue_for_change(request, pk)
        change_url = reverse("admin:newsletter_issue_change", args=[pk])
        if request.method != "POST":
            return redirect(change_url)
        if not request.user.email:
            self.message_user(request, "Add an e-mail address to your user first.", messages.ERROR)
            return redirect(change_url)
        services.issue_send_test(issue=issue, to=request.user.email, first_name="")
        self.message_user(request, f"Test sent to {request.user.email}.")
        return redirect(change_url)

    def send_view(self, request, pk):
        """GET: confirm (shows how many will receive it) or show progress; POST: start or resume."""
        issue = self._issue_for_change(request, pk)
        if request.method == "POST":
            with transaction.atomic():
                issue = services.issue_start_send(issue_id=issue.pk)
                transaction.on_commit(partial(enqueue_issue.delay, issue.pk))
            self.message_user(request, "Sending started. This page shows the progress.")
            return redirect("admin:newsletter_issue_send", pk=pk)
        confirmed = Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).count()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "issue": issue,
            "title": f"Send “{issue.subject}”",
            "confirmed_count": confirmed,
            "progress": services.issue_progress(issue) if issue.status != "draft" else None,
        }
        return TemplateResponse(request, "newsletter/admin/issue_send.html", context)
