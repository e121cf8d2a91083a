from django.contrib import admin, messages
from django.utils.text import Truncator

from .models import Purge
from .services import purge_retry


@admin.register(Purge)
class PurgeAdmin(admin.ModelAdmin):
    list_display = ("created_at", "reason", "key_list", "status", "attempts", "send_after", "error")
    list_filter = ("status",)
    readonly_fields = [f.name for f in Purge._meta.fields]
    actions = ("retry_now",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    @admin.display(description="keys")
    def key_list(self, purge):
        return " ".join(purge.keys)

    @admin.display(description="last error")
    def error(self, purge):
        return Truncator(purge.last_error).chars(80)

    @admin.action(description="Retry now (pending or failed)", permissions=["change"])
    def retry_now(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        retried = purge_retry(ids=selected)
        self.message_user(request, f"{retried} purge(s) handed out to run now.")
        if retried < len(selected):
            self.message_user(
                request,
                f"{len(selected) - retried} left alone: already done or running.",
                messages.WARNING,
            )
