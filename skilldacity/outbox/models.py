from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class EmailQuerySet(models.QuerySet):
    def due(self, now=None):
        return self.filter(status=Email.Status.PENDING, send_after__lte=now or timezone.now())


class Email(models.Model):
    """One e-mail to send, recorded in the transaction of the change that causes it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    key = models.CharField(
        max_length=200,
        unique=True,
        help_text="Unique per e-mail, e.g. lead-ack:42. Asking again with the same key is a no-op.",
    )
    to = models.EmailField(max_length=254)
    template = models.CharField(
        max_length=100, help_text="Name under templates/emails/ (subject, .txt and .html)."
    )
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    send_after = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = EmailQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "send_after"], name="outbox_due_idx")]

    def __str__(self):
        return f"{self.template} to {self.to} ({self.status})"
