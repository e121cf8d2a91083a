from django.db import models
from django.utils import timezone


class PurgeQuerySet(models.QuerySet):
    def due(self, now=None):
        return self.filter(status=Purge.Status.PENDING, send_after__lte=now or timezone.now())


class Purge(models.Model):
    """Surrogate keys to purge from every configured edge cache, recorded in the transaction of
    the change that makes those pages stale (the e-mail outbox's mechanics: sent after commit,
    retried with backoff, swept when a task was lost)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    keys = models.JSONField(default=list, help_text="Surrogate keys, e.g. site, article-42.")
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    send_after = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = PurgeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "send_after"], name="edgecache_due_idx")]

    def __str__(self):
        return f"purge {' '.join(self.keys)} ({self.status})"


class Watermark(models.Model):
    """Up to when a periodic check has looked (e.g. for scheduled articles that went live)."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at}"
