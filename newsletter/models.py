from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Subscriber(models.Model):
    """A person on the mailing list. Pending until they confirm (double opt-in)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        # Reported by the e-mail provider: sends skip the address from then on.
        BOUNCED = "bounced", "Bounced (undeliverable)"
        COMPLAINED = "complained", "Marked as spam"

    class Source(models.TextChoices):
        FOOTER = "footer", "Site footer"
        ARTICLE = "article", "Article page"
        PAGE = "page", "Sign-up page"
        ADMIN = "admin", "Added by staff"

    email = models.EmailField(
        max_length=254,
        unique=True,
        help_text="Stored lower-cased, so one person is one subscriber however they type it.",
    )
    first_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    source = models.CharField(
        max_length=10,
        choices=Source.choices,
        default=Source.PAGE,
        help_text="Where the latest consent was given.",
    )
    consent_text = models.TextField(
        help_text="The consent statement exactly as the person saw it when they signed up."
    )
    consent_at = models.DateTimeField(default=timezone.now)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    attribution = models.JSONField(
        default=dict, blank=True, help_text="First-landing UTM parameters, referrer and ref code."
    )
    article = models.ForeignKey(
        "articles.Article",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="newsletter_signups",
        help_text="The article whose sign-up form was used, if any.",
    )
    token_nonce = models.CharField(
        max_length=32,
        help_text="Part of every signed link; changing it on re-subscription voids old links.",
    )
    confirmation_sends = models.PositiveIntegerField(
        default=0, help_text="How many confirmation (or reminder) e-mails were queued."
    )
    last_confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    undeliverable_reason = models.CharField(
        max_length=255,
        blank=True,
        # A database default too, so rows written by raw SQL (or code older than this field)
        # still insert.
        db_default="",
        default="",
        help_text="What the e-mail provider reported, if it did.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Keyset pagination over confirmed subscribers when sending an issue.
            models.Index(
                fields=["id"],
                condition=Q(status="confirmed"),
                name="newsletter_confirmed_id_idx",
            ),
            # The staff dashboard: confirmations per week, unsubscribes after each update.
            models.Index(
                fields=["confirmed_at"],
                condition=Q(confirmed_at__isnull=False),
                name="newsletter_confirmed_at_idx",
            ),
            models.Index(
                fields=["unsubscribed_at"],
                condition=Q(unsubscribed_at__isnull=False),
                name="newsletter_unsubscribed_idx",
            ),
        ]

    def __str__(self):
        return self.email


class DiscountCode(models.Model):
    """The 20% code a subscriber gets on confirmation: one per subscriber, used once."""

    code = models.CharField(
        max_length=20,
        unique=True,
        help_text="SKILL-XXXX-XXXX, stored upper-case; look-ups upper-case what they are given.",
    )
    subscriber = models.OneToOneField(
        Subscriber, on_delete=models.CASCADE, related_name="discount_code"
    )
    percent_off = models.PositiveSmallIntegerField(default=20)
    expires_at = models.DateTimeField(help_text="The code is refused after this moment.")
    created_at = models.DateTimeField(default=timezone.now)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    order_reference = models.CharField(
        max_length=100, blank=True, help_text="The checkout's order number, given on redemption."
    )
    redeemed_via = models.ForeignKey(
        "ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="redemptions",
        help_text="The integration that redeemed it, when it came through the API.",
    )
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who marked it redeemed, when done in the admin.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent_off__gte=1) & Q(percent_off__lte=100),
                name="newsletter_code_percent_range",
            )
        ]

    def __str__(self):
        return self.code

    @property
    def is_redeemed(self):
        return self.redeemed_at is not None

    def is_expired(self, now=None):
        return self.expires_at <= (now or timezone.now())

    @property
    def state(self):
        if self.is_redeemed:
            return "redeemed"
        return "expired" if self.is_expired() else "active"


class ApiKey(models.Model):
    """A key for one integration (e.g. the shop's checkout). Only its SHA-256 is stored."""

    name = models.CharField(max_length=100, help_text="Who uses this key, e.g. 'Shop checkout'.")
    prefix = models.CharField(
        max_length=16, editable=False, help_text="The key's first characters, to recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="A revoked key is refused at once."
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class Issue(models.Model):
    """One newsletter update, written by staff and sent to every confirmed subscriber."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"

    subject = models.CharField(max_length=150)
    body = models.TextField(
        help_text="Markdown. Headings, links, lists and emphasis; raw HTML is removed."
    )
    featured_articles = models.ManyToManyField(
        "articles.Article",
        blank=True,
        related_name="+",
        help_text="Listed under the body with a link each. Only published articles are shown.",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    recipients_total = models.PositiveIntegerField(
        default=0, help_text="Confirmed subscribers when sending started."
    )
    recipients_cutoff_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Subscribers who join after sending starts get the next issue, not this one.",
    )
    enqueued_through_id = models.BigIntegerField(
        default=0, help_text="Subscriber id up to which e-mails are queued; a resume starts here."
    )
    enqueue_heartbeat_at = models.DateTimeField(null=True, blank=True)
    send_rate_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many e-mails a minute, across all workers (your e-mail "
        "provider's sending limit). Empty: the site-wide NEWSLETTER_SEND_RATE_PER_MINUTE; 0: no "
        "limit.",
    )
    rate_window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_window_claimed = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    send_started_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When every recipient's e-mail was queued."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.subject

    @property
    def email_key_prefix(self):
        return f"newsletter:{self.pk}:"

    def email_key(self, subscriber_id):
        return f"{self.email_key_prefix}{subscriber_id}"
