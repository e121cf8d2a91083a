"""SkillPoints: referrer accounts, referrals, the points ledger, rewards and redemptions.

Points are money-like. They move only by appending a `LedgerEntry` (`services.ledger`); the balance
cached on `ReferrerAccount` is updated in the same transaction under a row lock, and the database
refuses a negative balance. `manage.py audit_skillpoints` proves cache == sum of entries.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ImmutableEntryError(Exception):
    """A ledger entry was asked to change or disappear. Corrections are reversing entries."""


class Reward(models.Model):
    class Kind(models.TextChoices):
        COURSE = "course", "Course"
        DEVICE = "device", "Device"
        ACCESSORY = "accessory", "Accessory"

    name = models.CharField(max_length=150, unique=True)
    slug = models.SlugField(max_length=150, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.TextField(blank=True)
    points_cost = models.PositiveIntegerField()
    stock = models.PositiveIntegerField(
        null=True, blank=True, help_text="Leave empty when the reward is not limited by stock."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["points_cost", "name"]

    def __str__(self):
        return f"{self.name} ({self.points_cost} points)"


# The ledger tells an overdraft from other integrity errors by this name.
BALANCE_NOT_NEGATIVE = "referrals_account_balance_not_negative"


class ReferrerAccount(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="referrer_account"
    )
    code = models.CharField(
        max_length=16,
        unique=True,
        help_text="The short referral code in the referrer's link (/r/CODE). Never reused.",
    )
    balance = models.IntegerField(
        default=0,
        editable=False,
        help_text="Cached sum of this account's ledger entries. Changed only by ledger entries.",
    )
    email_verified_at = models.DateTimeField(null=True, blank=True)
    signup_attribution = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the account holder came from when they signed up (kept until they "
        "verify their e-mail, when a referral is recorded from it).",
    )
    signup_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name=BALANCE_NOT_NEGATIVE)
        ]

    def __str__(self):
        return f"{self.user.email or self.user.username} ({self.code})"


class Referral(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        QUALIFIED = "qualified", "Qualified"
        REVIEW = "review", "Under review"
        REJECTED = "rejected", "Rejected"

    referrer = models.ForeignKey(
        ReferrerAccount, on_delete=models.PROTECT, related_name="referrals"
    )
    email = models.EmailField(
        unique=True,
        help_text="The referred person's address, lower-cased. One referral per person: the "
        "first referrer keeps the credit.",
    )
    referred_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source = models.CharField(max_length=20, help_text="lead, newsletter or account")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    review_reason = models.CharField(
        max_length=200,
        blank=True,
        help_text="Why the referral was held for review or rejected. Approving pays the points "
        "once the friend's e-mail is confirmed; rejecting a paid one writes a reversal.",
    )
    email_confirmed_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["referrer", "-created_at"]),
            models.Index(fields=["ip", "created_at"]),
        ]

    def __str__(self):
        return f"{self.email} via {self.referrer.code} ({self.get_state_display()})"


class KnownEmail(models.Model):
    """Every address the site has heard of through `person_known`, with when it first did,
    except where the sender's own row is that record (a lead: rules.SOURCES_WITH_OWN_RECORD).

    "Known before the referral" is answered from here and from those rows (rules._known_before).
    """

    email = models.EmailField(unique=True)
    first_source = models.CharField(max_length=20)
    first_seen_at = models.DateTimeField()

    def __str__(self):
        return self.email

    @classmethod
    def remember(cls, *, email, source, now):
        """Record the address unless known already: one INSERT ... ON CONFLICT DO NOTHING, which
        cannot fail on a repeat, so callers need no savepoint around it."""
        known = cls(email=email, first_source=source[:20], first_seen_at=now)
        cls.objects.bulk_create([known], ignore_conflicts=True)


class Redemption(models.Model):
    class State(models.TextChoices):
        REQUESTED = "requested", "Requested"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELLED = "cancelled", "Cancelled"

    # No index of its own: (account, -created_at) below serves every lookup by account.
    account = models.ForeignKey(
        ReferrerAccount, on_delete=models.PROTECT, related_name="redemptions", db_index=False
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    points = models.PositiveIntegerField(help_text="The reward's cost when it was redeemed.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.REQUESTED)
    request_key = models.CharField(
        max_length=64,
        help_text="Sent with the redeem form, so a double-clicked button redeems once.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    staff_note = models.CharField(
        max_length=300,
        blank=True,
        help_text="Shown to the referrer in the e-mail when the redemption is cancelled.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        # A constraint rather than unique=True, which on PostgreSQL adds a second index for LIKE
        # queries that nothing runs, paid by every redemption (as for the ledger's key below).
        constraints = [
            models.UniqueConstraint(fields=["request_key"], name="referrals_redemption_key_unique")
        ]

    def __str__(self):
        return f"{self.reward.name} for {self.account.code} ({self.get_state_display()})"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        REFERRAL_AWARD = "award", "Referral award"
        REDEMPTION = "redemption", "Redemption"
        REFUND = "refund", "Refund"
        REVERSAL = "reversal", "Reversal"
        ADJUSTMENT = "adjustment", "Staff adjustment"

    # No index of its own: referrals_entry_history_idx (account, -id) serves any lookup by account.
    account = models.ForeignKey(
        ReferrerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    amount = models.IntegerField(help_text="Points added (positive) or taken (negative).")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    idempotency_key = models.CharField(
        max_length=120,
        help_text="Names the event that caused the entry, so the same event never counts twice.",
    )
    referral = models.ForeignKey(
        Referral, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    redemption = models.ForeignKey(
        Redemption, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    reverses = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        help_text="The entry this one cancels out.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The staff member for adjustments and reviews; empty when the site did it.",
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The id is the ledger's true order (append-only); history pages walk this index by keyset.
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "-id"], name="referrals_entry_history_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="referrals_entry_amount_not_zero"),
            models.UniqueConstraint(fields=["idempotency_key"], name="referrals_entry_key_unique"),
        ]

    def __str__(self):
        return f"{self.amount:+d} {self.get_kind_display()} ({self.idempotency_key})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableEntryError("Ledger entries cannot be edited; post a reversal.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableEntryError("Ledger entries cannot be deleted; post a reversal.")
