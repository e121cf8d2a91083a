"""Staff work leads here: a small CRM on top of the Django admin.

Status, assignment and notes go through the services (allowed transitions, timeline, e-mails);
only the contact details are edited in place.
"""

import phonenumbers
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from skilldacity.addresses import normalise_email
from skilldacity.outbox.models import Email

from . import services
from .export import leads_csv_response
from .forms import PHONE_REGION
from .models import Course, DevicePlatform, Lead, LeadActivity
from .personal_data import personal_data_view

Status = Lead.Status
# Columns staff may correct in place (courses too, saved by the admin as a relation).
CONTACT_FIELDS = [
    "name", "email", "phone", "organisation", "learners", "platform", "call_time",
    "call_timezone", "delivery", "timeframe", "message",
]  # fmt: skip


@admin.register(DevicePlatform)
class DevicePlatformAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "position"]
    list_editable = ["active", "position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["title", "level", "price_from", "active"]
    list_editable = ["active"]
    list_filter = ["active", "level", "platforms"]
    prepopulated_fields = {"slug": ["title"]}
    search_fields = ["title", "summary"]
    filter_horizontal = ["platforms"]


class OverdueFilter(admin.SimpleListFilter):
    title = "contact deadline"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue (not contacted in one working day)"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.overdue()
        if self.value() == "no":
            return queryset.exclude(pk__in=Lead.objects.overdue().values("pk"))
        return queryset


class SourceFilter(admin.SimpleListFilter):
    title = "source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [
            ("article", "An article"),
            ("own-page", "Quote or contact page"),
            ("campaign", "A campaign (UTM)"),
            ("referral", "A SkillPoints referral"),
        ]

    def queryset(self, request, queryset):
        match self.value():
            case "article":
                return queryset.filter(article__isnull=False)
            case "own-page":
                return queryset.filter(
                    source_path__in=[reverse("leads:quote"), reverse("leads:callback")]
                )
            case "campaign":
                return queryset.exclude(utm_source="")
            case "referral":
                return queryset.exclude(referral_code="")
        return queryset


class LeadAdminForm(forms.ModelForm):
    """Contact details edit in place; status, assignee and notes go through the services."""

    new_status = forms.ChoiceField(
        label="Change status to",
        required=False,
        help_text="Only the next steps of the pipeline are offered: new → contacted → quoted → "
        "won / lost, or spam. Quoting e-mails the visitor a follow-up a few days later.",
    )
    assign_to = forms.ModelChoiceField(
        label="Assigned to",
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True),
        required=False,
        help_text="Reminders about this lead go to this person (or to the staff inbox).",
    )
    note = forms.CharField(
        label="Add a note",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Calls, what was said, next steps: it goes on the timeline with your name.",
    )

    class Meta:
        model = Lead
        fields = [*CONTACT_FIELDS, "courses"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        status = self.instance.status
        self.fields["new_status"].choices = [("", "(keep as it is)")] + [
            (value, Status(value).label) for value in services.allowed_transitions(status)
        ]
        self.fields["assign_to"].initial = self.instance.assigned_to_id

    def clean_phone(self):
        value = self.cleaned_data["phone"].strip()
        if not value:
            return ""
        try:
            number = phonenumbers.parse(value, PHONE_REGION)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise forms.ValidationError("Enter a valid phone number, e.g. +44 7911 123456.")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = [
        "__str__", "kind", "status_badge", "assigned_to", "organisation", "course_list",
        "platform", "source", "created_at",
    ]  # fmt: skip
    list_display_links = ["__str__"]
    list_filter = [
        "status",
        "kind",
        OverdueFilter,
        ("courses", admin.RelatedOnlyFieldListFilter),
        "platform",
        ("assigned_to", admin.RelatedOnlyFieldListFilter),
        SourceFilter,
        "created_at",
    ]
    list_select_related = ["platform", "assigned_to", "article"]
    search_fields = ["name", "email", "organisation", "phone"]
    search_help_text = "Name, e-mail, organisation or phone (any notation)."
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = [
        "assign_to_me",
        "mark_contacted",
        "mark_quoted",
        "mark_won",
        "mark_lost",
        "mark_spam",
        "export_selected_csv",
        "export_personal_data",
        "erase_personal_data",
    ]
    readonly_fields = [
        "kind", "status_badge", "created_at", "contact_due_at", "contacted_at",
        "closed_at", "consent_text", "article", "source_path", "landing_path", "referrer",
        "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referral_code",
        "ip", "anonymised_at", "timeline",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": [("kind", "status_badge"), "new_status", "assign_to"]}),
        ("Timeline", {"fields": ["timeline", "note"]}),
        (
            "Contact",
            {"fields": ["name", "email", "phone", "organisation"]},
        ),
        (
            "Request",
            {
                "fields": [
                    "courses",
                    "platform",
                    "learners",
                    ("call_time", "call_timezone"),
                    ("delivery", "timeframe"),
                    "message",
                    "consent_text",
                ]  # fmt: skip
            },
        ),
        (
            "Dates",
            {
                "fields": [
                    "created_at",
                    "contact_due_at",
                    "contacted_at",
                    "closed_at",
                    "anonymised_at",
                ]
            },
        ),
        (
            "Where it came from",
            {
                "classes": ["collapse"],
                "fields": [
                    "article",
                    "source_path",
                    "landing_path",
                    "referrer",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                    "utm_term",
                    "utm_content",
                    "referral_code",
                    "ip",
                ],  # fmt: skip
            },
        ),
    ]
    filter_horizontal = ["courses"]

    class Media:
        css = {"all": ["leads/admin.css"]}

    # --- pages ---------------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("courses")

    def has_add_permission(self, request):
        # Leads come from the public forms (services.lead_submit), with consent and attribution.
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting would lose the lead from every count; erasing personal data is the way out.
        return False

    def can_erase(self, request):
        return request.user.has_perm("leads.delete_lead")

    def get_urls(self):
        custom = [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_filtered_csv),
                name="leads_lead_export",
            ),
            path(
                "personal-data/",
                self.admin_site.admin_view(self.personal_data_view),
                name="leads_lead_personal_data",
            ),
        ]
        return custom + super().get_urls()

    def get_search_results(self, request, queryset, search_term):
        filtered = queryset
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # Phones are stored in E.164; let staff search in the notation the caller used.
        try:
            number = phonenumbers.parse(search_term, PHONE_REGION)
        except phonenumbers.NumberParseException:
            return queryset, may_have_duplicates
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return queryset | filtered.filter(phone=e164), may_have_duplicates

    def save_model(self, request, obj, form, change):
        # Only what staff changed on this form: status and assignee belong to the services, and a
        # full save could put back a status someone else changed a moment ago.
        edited = [name for name in form.changed_data if name in CONTACT_FIELDS]
        if edited:
            obj.save(update_fields=edited)
        data = form.cleaned_data
        if data.get("assign_to") != obj.assigned_to:
            services.lead_assign(lead_id=obj.pk, assignee=data.get("assign_to"), actor=request.user)
        if data.get("note", "").strip():
            services.lead_add_note(lead_id=obj.pk, actor=request.user, text=data["note"])
        if data.get("new_status"):
            try:
                services.lead_transition(
                    lead_id=obj.pk, to_status=data["new_status"], actor=request.user
                )
            except services.TransitionNotAllowed as exc:
                # Someone else moved the lead on while this page was open.
                self.message_user(request, exc.message, messages.ERROR)

    # --- columns -------------------------------------------------------------------------

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        badge = format_html(
            '<span class="lead-status lead-status-{}">{}</span>',
            obj.status,
            obj.get_status_display(),
        )
        if obj.pk and obj.is_overdue:
            return format_html(
                '{} <span class="lead-overdue" title="Not contacted within one working day">'
                "Overdue</span>",
                badge,
            )
        return badge

    @admin.display(description="Courses")
    def course_list(self, obj):
        return ", ".join(course.title for course in obj.courses.all())

    @admin.display(description="Source")
    def source(self, obj):
        if obj.article_id:
            return format_html("Article: {}", obj.article.title)
        campaign = f" ({obj.utm_source})" if obj.utm_source else ""
        return f"{obj.source_path or '-'}{campaign}"

    @admin.display(description="Timeline")
    def timeline(self, obj):
        activities = list(obj.activities.select_related("actor"))
        keys = [activity.email_key for activity in activities if activity.email_key]
        email_status = dict(Email.objects.filter(key__in=keys).values_list("key", "status"))
        rows = (
            (
                timezone.localtime(activity.created_at).strftime("%a %d %b %Y %H:%M"),
                activity.actor.get_username() if activity.actor else "site",
                _describe(activity, email_status),
            )
            for activity in reversed(activities)
        )
        return format_html(
            '<ol class="lead-timeline">{}</ol>',
            format_html_join(
                "",
                '<li><time>{}</time> <span class="lead-timeline-who">{}</span> {}</li>',
                rows,
            ),
        )

    # --- actions -------------------------------------------------------------------------

    @admin.action(description="Assign selected leads to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        for lead_id in queryset.values_list("pk", flat=True):
            services.lead_assign(lead_id=lead_id, assignee=request.user, actor=request.user)
        self.message_user(request, f"{queryset.count()} lead(s) assigned to you.", messages.SUCCESS)

    def _bulk_transition(self, request, queryset, to_status):
        moved, refused = 0, []
        for lead in queryset.select_related(None).prefetch_related(None).only("pk", "status"):
            try:
                services.lead_transition(lead_id=lead.pk, to_status=to_status, actor=request.user)
                moved += 1
            except services.TransitionNotAllowed:
                refused.append(f"#{lead.pk} ({lead.get_status_display().lower()})")
        label = Status(to_status).label.lower()
        if moved:
            self.message_user(request, f"{moved} lead(s) marked {label}.", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"Not marked {label}, because their status doesn't allow it: " + ", ".join(refused),
                messages.WARNING,
            )

    @admin.action(description="Mark selected leads contacted", permissions=["change"])
    def mark_contacted(self, request, queryset):
        self._bulk_transition(request, queryset, Status.CONTACTED)

    @admin.action(description="Mark selected leads quoted", permissions=["change"])
    def mark_quoted(self, request, queryset):
        self._bulk_transition(request, queryset, Status.QUOTED)

    @admin.action(description="Mark selected leads won", permissions=["change"])
    def mark_won(self, request, queryset):
        self._bulk_transition(request, queryset, Status.WON)

    @admin.action(description="Mark selected leads lost", permissions=["change"])
    def mark_lost(self, request, queryset):
        self._bulk_transition(request, queryset, Status.LOST)

    @admin.action(description="Mark selected leads as spam", permissions=["change"])
    def mark_spam(self, request, queryset):
        self._bulk_transition(request, queryset, Status.SPAM)

    @admin.action(description="Export selected leads to CSV", permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return leads_csv_response(queryset)

    @admin.action(description="Personal data: export everything held about these e-mails")
    def export_personal_data(self, request, queryset):
        return redirect(self._personal_data_url(queryset))

    @admin.action(description="Personal data: erase these people (keeps the counts)")
    def erase_personal_data(self, request, queryset):
        return redirect(self._personal_data_url(queryset))

    def _personal_data_url(self, queryset):
        emails = sorted(
            {normalise_email(email) for email in queryset.values_list("email", flat=True) if email}
        )
        url = reverse("admin:leads_lead_personal_data")
        return f"{url}?{urlencode({'email': emails}, doseq=True)}"

    # --- CSV (leads/export.py) --------------------------------------------------------------

    def export_filtered_csv(self, request):
        """The changelist as CSV, with the same filters, search and date drill-down."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return leads_csv_response(changelist.get_queryset(request))

    # --- personal data (leads/personal_data.py) --------------------------------------------

    def personal_data_view(self, request):
        return personal_data_view(request, model_admin=self)


def _describe(activity, email_status):
    Kind = LeadActivity.Kind
    if activity.kind == Kind.STATUS:
        text = f"Status {Status(activity.from_status).label} → {Status(activity.to_status).label}"
        return f"{text}: {activity.text}" if activity.text else text
    if activity.kind == Kind.EMAIL:
        status = email_status.get(activity.email_key, "unknown")
        return f"E-mail: {activity.text} ({status})"
    if activity.kind == Kind.CREATED:
        return "Lead received"
    if activity.kind == Kind.NOTE:
        return f"Note: {activity.text}"
    return activity.text or activity.get_kind_display()
