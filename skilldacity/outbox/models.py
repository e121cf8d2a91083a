from django.core.mail.message import make_msgid
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

MESSAGE_ID_DOMAIN = "skilldacity.example"


def new_message_id():
    return make_msgid(domain=MESSAGE_ID_DOMAIN)


class EmailQuerySet(models.QuerySet):
    def due(self, now=None):
        return self.filter(status=Email.Status.PENDING, send_after__lte=now or timezone.now())


class Email(models.Model):
    """One e-mail to send, recorded in the transaction of the change that causes it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
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
    # Indexed by outbox_due_idx, which every status query leads with.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    send_after = models.DateTimeField(
        default=timezone.now,
        help_text="Not sent before this time. Retries after a temporary failure move it on.",
    )
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a send task was last handed to the broker. Empty: the sweep sends it as "
        "soon as it is due; otherwise the sweep waits a grace period for that task first.",
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(
        max_length=255,
        default=new_message_id,
        help_text="The Message-ID header, the same on every attempt, so that a receiving server "
        "can recognise a message it already has.",
    )
    provider_message_id = models.CharField(
        max_length=255, blank=True, help_text="The id an e-mail provider returned, if any."
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = EmailQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "send_after"], name="outbox_due_idx"),
            # Campaign senders walk the pending rows in id order (outbox/batch.py). Without it,
            # PostgreSQL answered each claim of 100 by gathering every due row of the campaign
            # and sorting them: 75 ms a claim with 70,000 queued. Only pending rows are in it,
            # so marking a row sent adds nothing here.
            models.Index(
                fields=["id"], condition=Q(status="pending"), name="outbox_pending_id_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="outbox_sent_has_sent_at",
            ),
        ]

    def __str__(self):
        return f"{self.template} to {self.to} ({self.status})"
