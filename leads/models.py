from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone


class DevicePlatform(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    active = models.BooleanField(default=True, help_text="Inactive platforms leave the forms.")
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order in the forms' drop-downs (lowest first)."
    )

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name


class Course(models.Model):
    class Level(models.TextChoices):
        BEGINNER = "beginner", "Beginner"
        INTERMEDIATE = "intermediate", "Intermediate"
        ADVANCED = "advanced", "Advanced"

    title = models.CharField(max_length=150, unique=True)
    slug = models.SlugField(max_length=150, unique=True)
    summary = models.TextField(blank=True)
    level = models.CharField(max_length=12, choices=Level.choices, default=Level.BEGINNER)
    price_from = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Lowest price, in GBP."
    )
    active = models.BooleanField(
        default=True, help_text="Inactive courses leave the forms; leads that named them keep them."
    )
    platforms = models.ManyToManyField(DevicePlatform, related_name="courses", blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title


class LeadQuerySet(models.QuerySet):
    def overdue(self, now=None):
        """New leads nobody has contacted by their due time (one working day after arrival)."""
        return self.filter(status=Lead.Status.NEW, contact_due_at__lt=now or timezone.now())

    def for_email(self, email):
        return self.filter(email__iexact=email.strip())


class Lead(models.Model):
    """A callback or quote request: the business. Created only by `services.lead_submit`."""

    class Kind(models.TextChoices):
        CALLBACK = "callback", "Callback"
        QUOTE = "quote", "Quote"

    class Status(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        QUOTED = "quoted", "Quoted"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        SPAM = "spam", "Spam"

    class CallTime(models.TextChoices):
        MORNING = "morning", "Morning (9am to 12pm)"
        AFTERNOON = "afternoon", "Afternoon (12pm to 5pm)"
        EVENING = "evening", "Early evening (5pm to 7pm)"
        ANYTIME = "anytime", "Any time (9am to 7pm)"

    class Delivery(models.TextChoices):
        ONLINE = "online", "Online"
        ON_SITE = "on_site", "On site"
        EITHER = "either", "Either / not sure yet"

    class Timeframe(models.TextChoices):
        ASAP = "asap", "As soon as possible"
        QUARTER = "1-3m", "In 1 to 3 months"
        HALF_YEAR = "3-6m", "In 3 to 6 months"
        EXPLORING = "exploring", "Just exploring"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.NEW,
        help_text="Moves new → contacted → quoted → won / lost (or spam); change it with "
        "“Change status to”, which allows only the next steps.",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_leads",
        limit_choices_to={"is_staff": True, "is_active": True},
        help_text="The staff member who works this lead; reminders go to them.",
    )

    name = models.CharField(max_length=150)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +447911123456.")
    organisation = models.CharField(max_length=200, blank=True)
    learners = models.PositiveIntegerField(null=True, blank=True)
    courses = models.ManyToManyField(Course, related_name="leads", blank=True)
    platform = models.ForeignKey(
        DevicePlatform, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    call_time = models.CharField(max_length=10, choices=CallTime.choices, blank=True)
    call_timezone = models.CharField(max_length=64, blank=True)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, blank=True)
    timeframe = models.CharField(max_length=10, choices=Timeframe.choices, blank=True)
    message = models.TextField(blank=True)
    consent_text = models.TextField(help_text="The consent wording the visitor ticked.")

    # Attribution: where the lead came from (first landing kept in the session).
    article = models.ForeignKey(
        "articles.Article",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        help_text="The article whose form the visitor used, if any.",
    )
    source_path = models.CharField(max_length=500, blank=True, help_text="Page the form was on.")
    landing_path = models.CharField(max_length=500, blank=True)
    referrer = models.CharField(max_length=500, blank=True, help_text="External referrer.")
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    referral_code = models.CharField(max_length=32, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    dedupe_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    contact_due_at = models.DateTimeField(
        help_text="One working day after arrival (weekends don't count); later than this while "
        "still new, the lead is overdue."
    )
    contacted_at = models.DateTimeField(null=True, blank=True)
    quoted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the lead was first quoted (for the sales funnel)."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    anonymised_at = models.DateTimeField(
        null=True, blank=True, help_text="Personal data erased; the lead still counts."
    )
    # A lead a visitor posts is added to the dashboard's tallies by a job, not in the post's own
    # transaction (insights/rollups.py, tally_new_leads); until then this is False.
    tallied = models.BooleanField(default=True, editable=False)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every index is paid for on each lead a visitor posts. Single-column indexes on kind,
        # status and dedupe_hash (each with a LIKE twin) repeated what these lead with, or had
        # two values to choose from; e-mail's two served no query, since a person is looked up
        # case-insensitively (`for_email`). With 1,000,000 leads the 15 indexes were 500 MB, and
        # a single-row INSERT ran 4,391-4,430/s against 5,334-5,405/s without the redundant 7.
        indexes = [
            models.Index(fields=["status", "contact_due_at"], name="lead_overdue_idx"),
            models.Index(fields=["dedupe_hash", "created_at"], name="lead_dedupe_idx"),
            models.Index(Upper("email"), name="lead_email_upper_idx"),
            # Only the few leads waiting for the tally job: it and the dashboard look them up.
            models.Index(
                fields=["id"], condition=models.Q(tallied=False), name="lead_untallied_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(learners__isnull=True) | models.Q(learners__gte=1),
                name="lead_learners_positive",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}: {self.name}"

    @property
    def is_overdue(self):
        return self.status == self.Status.NEW and self.contact_due_at < timezone.now()


class LeadActivity(models.Model):
    """One line of a lead's timeline: who did what, when. Written by the services only."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS = "status", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        NOTE = "note", "Note"
        EMAIL = "email", "E-mail"
        ERASED = "erased", "Personal data erased"

    # Found through lead_activity_idx, which leads with the lead.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the site or a scheduled task did it.",
    )
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    text = models.TextField(blank=True)
    email_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "lead activities"
        indexes = [models.Index(fields=["lead", "created_at"], name="lead_activity_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} on lead {self.lead_id}"
