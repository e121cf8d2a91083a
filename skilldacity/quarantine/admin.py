from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from .models import QuarantinedPost
from .services import quarantine_release

CHANGELIST = "admin:quarantine_quarantinedpost_changelist"


@admin.register(QuarantinedPost)
class QuarantinedPostAdmin(admin.ModelAdmin):
    list_display = ("created_at", "form", "reason", "contact", "ip", "release_button")
    list_filter = ("reason", "form", ("released_at", admin.EmptyFieldListFilter))
    search_fields = ("ip", "payload")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in QuarantinedPost._meta.fields]
    actions = ("release_selected",)

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        release = self.admin_site.admin_view(self.release_view)
        return [
            path("<int:pk>/release/", release, name="quarantine_quarantinedpost_release"),
            *super().get_urls(),
        ]

    @admin.display(description="e-mail")
    def contact(self, post):
        return post.contact

    @admin.display(description="release", ordering="released_at")
    def release_button(self, post):
        if post.released_at is not None:
            return post.release_result or "released"
        # A button of the change list's own form (nested forms are not valid HTML): one click
        # posts the list's CSRF token to this post's release URL.
        url = reverse("admin:quarantine_quarantinedpost_release", args=[post.pk])
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post">'
            "Release</button>",
            url,
        )

    def _release(self, request, post):
        try:
            post = quarantine_release(post_id=post.pk, staff_user=request.user)
        except ValidationError as exc:
            self.message_user(
                request,
                f"Post {post.pk} was not released: {' '.join(exc.messages)}",
                messages.ERROR,
            )
            return False
        self.message_user(request, f"Released post {post.pk}: {post.release_result}.")
        return True

    def release_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        post = self.get_object(request, str(pk))
        if post is None or not self.has_change_permission(request, post):
            raise PermissionDenied
        self._release(request, post)
        return HttpResponseRedirect(reverse(CHANGELIST))

    @admin.action(description="Release the selected posts", permissions=["change"])
    def release_selected(self, request, queryset):
        for post in queryset.filter(released_at__isnull=True):
            self._release(request, post)
