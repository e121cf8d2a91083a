from csp.decorators import csp
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import Truncator
from django.views.decorators.clickjacking import xframe_options_sameorigin

from .models import Email
from .services import build_message, email_cancel, email_retry

# The rendered HTML of an e-mail is shown in an <iframe sandbox> whose document gets its own,
# stricter policy: no script, no plugin, no request anywhere except images, and a unique origin,
# so nothing in a message (however its context was filled) can act on the admin.
PREVIEW_CSP = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["https:", "data:"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'self'"],
    "sandbox": True,
}


@admin.register(Email)
class EmailAdmin(admin.ModelAdmin):
    list_display = ("to", "key", "status", "attempts", "when", "error")
    list_filter = ("status", "template")
    search_fields = ("to", "key")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Email._meta.fields]
    actions = ("retry_now", "cancel")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # The rows are the record of what was sent, and their keys stop a second send.
        return False

    @admin.display(description="when", ordering="send_after")
    def when(self, email):
        label, moment = {
            Email.Status.PENDING: ("due", email.send_after),
            Email.Status.SENT: ("sent", email.sent_at),
            Email.Status.FAILED: ("gave up", email.last_attempt_at),
        }.get(email.status, ("", None))
        if moment is None:
            return "-"
        return f"{label} {date_format(timezone.localtime(moment), 'SHORT_DATETIME_FORMAT')}"

    @admin.display(description="last error")
    def error(self, email):
        return Truncator(email.last_error).chars(80)

    @admin.action(description="Retry now (pending or failed)", permissions=["change"])
    def retry_now(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        self._report(
            request,
            len(selected),
            email_retry(ids=selected),
            done="handed out to send now",
            skipped="already sent, cancelled or being sent",
        )

    @admin.action(description="Cancel (not yet sent)", permissions=["change"])
    def cancel(self, request, queryset):
        selected = list(queryset.values_list("key", flat=True))
        self._report(
            request,
            len(selected),
            email_cancel(keys=selected),
            done="cancelled",
            skipped="only pending e-mails can be cancelled",
        )

    def _report(self, request, selected, changed, *, done, skipped):
        self.message_user(request, f"{changed} e-mail(s) {done}.")
        if changed < selected:
            self.message_user(
                request, f"{selected - changed} left alone: {skipped}.", messages.WARNING
            )

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:object_id>/preview/", preview, name="outbox_email_preview"),
            *super().get_urls(),
        ]

    @staticmethod
    def rendered(email):
        """Subject, headers, text and HTML as they would be sent, or the rendering error."""
        try:
            message = build_message(email)
        except (TemplateDoesNotExist, TemplateSyntaxError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        html = next((body for body, mime in message.alternatives if mime == "text/html"), "")
        return {
            "subject": message.subject,
            "headers": sorted(message.extra_headers.items()),
            "text": message.body,
            "html": html,
        }

    @csp(PREVIEW_CSP)
    @xframe_options_sameorigin
    def preview_view(self, request, object_id):
        email = get_object_or_404(Email, pk=object_id)
        if not self.has_view_permission(request, email):
            return HttpResponse(status=403)
        rendered = self.rendered(email)
        return HttpResponse(rendered.get("html") or rendered.get("error", ""))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        email = self.get_object(request, unquote(object_id))
        if email is not None:
            extra_context["rendered"] = self.rendered(email)
            extra_context["preview_url"] = reverse(
                "admin:outbox_email_preview", args=[email.pk], current_app=self.admin_site.name
            )
        extra_context.update(
            show_save=False, show_save_and_continue=False, show_save_and_add_another=False
        )
        return super().change_view(request, object_id, form_url, extra_context)
