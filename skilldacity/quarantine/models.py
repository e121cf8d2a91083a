"""Posts that a spam guess turned away, kept so that staff can release a real person's post.

Kept apart from the apps' own tables, so leads, subscribers and the dashboards never see them.
"""

from django.conf import settings
from django.db import models


class QuarantinedPost(models.Model):
    class Reason(models.TextChoices):
        HONEYPOT = "honeypot", "Hidden field filled in"
        TOO_FAST = "too-fast", "Sent faster than a person types"
        BAD_TIMESTAMP = "bad-timestamp", "Missing or forged form timestamp"
        RATE_LIMITED = "rate-limited", "Too many posts from one address"

    form = models.CharField(max_length=30, help_text="Which form was sent: callback, quote, …")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    payload = models.JSONField(
        help_text="The posted fields the form knows (each a list of values), as the visitor "
        "sent them; releasing validates them again."
    )
    attribution = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    release_result = models.CharField(
        max_length=200, blank=True, help_text="What releasing made, e.g. the lead's number."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ip", "created_at"])]
        verbose_name = "quarantined post"

    def __str__(self):
        return f"{self.form} post from {self.contact or 'unknown'} ({self.get_reason_display()})"

    @property
    def contact(self):
        """The e-mail address in the post, whatever the form's prefix."""
        for key, values in self.payload.items():
            if key == "email" or key.endswith("-email"):
                return values[0] if values else ""
        return ""
