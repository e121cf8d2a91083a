from datetime import timedelta

from django import forms
from django.utils import timezone

MAX_RANGE_DAYS = 3 * 366


class InsightsFilterForm(forms.Form):
    """The date range and filters that apply to every chart on the dashboard."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(
        required=False, choices=[("", "All kinds"), ("callback", "Callback"), ("quote", "Quote")]
    )
    source = forms.ChoiceField(
        required=False,
        choices=[
            ("", "All sources"),
            ("article", "Article"),
            ("direct", "Direct"),
            ("newsletter", "Newsletter"),
            ("referral", "Referral"),
            ("campaign", "Campaign (UTM)"),
        ],
    )

    def clean(self):
        cleaned = super().clean()
        today = timezone.localdate()
        end = cleaned.get("end") or today
        start = cleaned.get("start") or end - timedelta(weeks=12)
        cleaned.setdefault("kind", "")
        cleaned.setdefault("source", "")
        if start > end:
            self.add_error("start", "The start date must be on or before the end date.")
            start = end - timedelta(weeks=12)
        if (end - start).days > MAX_RANGE_DAYS:
            self.add_error("start", "Choose a range of at most three years.")
            start = end - timedelta(days=MAX_RANGE_DAYS)
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def period(self):
        """(start, end) as aware datetimes covering whole days, whatever the form held."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        today = timezone.localdate()
        end = self.cleaned_data.get("end") or today
        start = self.cleaned_data.get("start") or end - timedelta(weeks=12)
        if start > end or (end - start).days > MAX_RANGE_DAYS:
            start = end - timedelta(weeks=12)
        tz = timezone.get_current_timezone()
        return (
            timezone.make_aware(timezone.datetime.combine(start, timezone.datetime.min.time()), tz),
            timezone.make_aware(
                timezone.datetime.combine(end + timedelta(days=1), timezone.datetime.min.time()),
                tz,
            ),
        )
