from django.db import models


class Tally(models.Model):
    """Counts for one local day (days=1) or one Monday-to-Sunday week (days=7).

    Every change is added to both: a range is read as its whole weeks plus the days at its
    edges, so two years are about 110 periods rather than 730 days."""

    day = models.DateField(help_text="The first day, in the site's time zone.")
    days = models.PositiveSmallIntegerField(help_text="1 for a day, 7 for a week.")
    kind = models.CharField(max_length=10)
    source = models.CharField(max_length=10)

    class Meta:
        abstract = True


class LeadTally(Tally):
    """Leads created in a period, by kind, source and article: what the lead charts and the
    funnel count. Spam is left out, as on the dashboard.

    Kept in step with the leads in the same transaction as each change, and a posted lead
    counted by a job (insights/rollups.py); `manage.py insights_rollup` checks it against a
    direct count over the leads.
    """

    # 0 for no article: a NULL would never conflict in the upsert's unique key. Not a foreign
    # key: deleting an article moves its leads' counts to 0 (their article becomes NULL).
    article_id = models.IntegerField(default=0)
    leads = models.IntegerField(default=0)
    contacted = models.IntegerField(default=0)
    quoted = models.IntegerField(default=0)
    won = models.IntegerField(default=0)

    class Meta:
        # Days first: a range reads its weeks as one run of the index, its edge days as another.
        constraints = [
            models.UniqueConstraint(
                fields=["days", "day", "kind", "source", "article_id"], name="insights_lead_key"
            )
        ]

    def __str__(self):
        return f"{self.day}+{self.days} {self.kind} {self.source} {self.article_id}"


class StageTally(Tally):
    """How many leads of a period took how long to reach a funnel stage from the one before:
    a histogram (see rollups.BOUNDS) from which the funnel reads the median's interval."""

    stage = models.CharField(max_length=10)
    bucket = models.SmallIntegerField()
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["days", "day", "kind", "source", "stage", "bucket"],
                name="insights_stage_key",
            )
        ]

    def __str__(self):
        return f"{self.day}+{self.days} {self.kind} {self.source} {self.stage} {self.bucket}"
