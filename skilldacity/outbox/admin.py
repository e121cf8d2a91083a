from django.contrib import admin

from .models import Email


@admin.register(Email)
class EmailAdmin(admin.ModelAdmin):
    list_display = ("key", "to", "template", "status", "attempts", "send_after", "sent_at")
    list_filter = ("status", "template")
    search_fields = ("to", "key")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Email._meta.fields]

    def has_add_permission(self, request):
        return False
