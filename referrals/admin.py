from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .forms import AdjustmentForm
from .models import LedgerEntry, Redemption, Referral, ReferrerAccount, Reward
from .services import errors, ledger, rewards, rules


class ReadOnlyAdminMixin:
    """Rows that only services may change: staff look, and act through admin actions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _run_each(modeladmin, request, queryset, operation, done):
    ok = 0
    for obj in queryset:
        try:
            operation(obj)
        except errors.PointsError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
        else:
            ok += 1
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "points_cost", "stock", "active"]
    list_filter = ["kind", "active"]
    list_editable = ["active"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ReferrerAccount)
class ReferrerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "code", "balance", "email_verified_at", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__email", "code"]
    readonly_fields = [
        "user",
        "code",
        "balance",
        "email_verified_at",
        "signup_attribution",
        "signup_ip",
        "created_at",
    ]


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "email",
        "referrer",
        "state",
        "source",
        "review_reason",
        "ip",
        "created_at",
        "email_confirmed_at",
    ]
    list_filter = ["state", "source"]
    list_select_related = ["referrer__user"]
    search_fields = ["email", "referrer__code", "referrer__user__email", "ip"]
    actions = ["approve", "reject"]

    @admin.action(description="Approve: pay the points (once the friend's e-mail is confirmed)")
    def approve(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: rules.referral_approve(referral_id=r.pk, staff_user=request.user),
            "Approved",
        )

    @admin.action(description="Reject: no points; reverses an award already paid")
    def reject(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: rules.referral_reject(
                referral_id=r.pk, staff_user=request.user, reason="Rejected by staff"
            ),
            "Rejected",
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("referrals.change_referral"):
            actions.pop("approve", None)
            actions.pop("reject", None)
        return actions


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: corrections are new entries, written by the adjustment form or a reversal."""

    list_display = ["created_at", "account", "amount", "kind", "idempotency_key", "created_by"]
    list_filter = ["kind"]
    list_select_related = ["account__user", "created_by"]
    search_fields = ["account__code", "account__user__email", "idempotency_key"]
    date_hierarchy = "created_at"
    actions = ["reverse_entries"]
    change_list_template = "admin/referrals/ledgerentry/change_list.html"
    show_full_result_count = False

    def get_urls(self):
        return [
            path(
                "adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="referrals_ledgerentry_adjust",
            ),
            *super().get_urls(),
        ]

    def _may_post(self, request):
        return request.user.has_perm("referrals.add_ledgerentry")

    def adjust_view(self, request):
        if not self._may_post(request):
            raise PermissionDenied
        form = AdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = ledger.points_adjust(
                    account_id=form.cleaned_data["account"].pk,
                    amount=form.cleaned_data["amount"],
                    note=form.cleaned_data["note"],
                    staff_user=request.user,
                )
            except errors.PointsError as error:
                form.add_error("amount", str(error))
            else:
                self.message_user(request, f"Posted {entry}.", messages.SUCCESS)
                return redirect(reverse("admin:referrals_ledgerentry_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Adjust a SkillPoints balance",
        }
        return TemplateResponse(request, "admin/referrals/ledgerentry/adjust.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_adjust": self._may_post(request)}
        return super().changelist_view(request, extra_context)

    @admin.action(description="Reverse: post an equal and opposite entry")
    def reverse_entries(self, request, queryset):
        if not self._may_post(request):
            raise PermissionDenied
        _run_each(
            self,
            request,
            queryset,
            lambda e: ledger.entry_reverse(entry_id=e.pk, staff_user=request.user),
            "Reversed",
        )


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "account", "reward", "points", "state", "decided_by"]
    list_filter = ["state", "reward__kind"]
    list_select_related = ["account__user", "reward", "decided_by"]
    search_fields = ["account__code", "account__user__email", "reward__name"]
    actions = ["fulfil", "cancel"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("referrals.change_redemption"):
            actions.pop("fulfil", None)
            actions.pop("cancel", None)
        return actions

    @admin.action(description="Fulfil: the reward has been sent")
    def fulfil(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: rewards.redemption_fulfil(redemption_id=r.pk, staff_user=request.user),
            "Fulfilled",
        )

    @admin.action(description="Cancel: refund the points and return the stock")
    def cancel(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda r: rewards.redemption_cancel(
                redemption_id=r.pk, staff_user=request.user, note="Cancelled by our team."
            ),
            "Cancelled",
        )
