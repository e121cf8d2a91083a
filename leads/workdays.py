"""Working-day arithmetic for the "contact within one working day" promise.

Weekends don't count; bank holidays are not modelled (staff see them coming and reassign).
"""

from datetime import datetime, timedelta

from django.utils import timezone

SATURDAY = 5


def add_working_days(moment: datetime, days: float = 1) -> datetime:
    """`moment` plus `days` of weekday time, in the site's time zone.

    A lead sent on Friday at 15:00 is due on Monday at 15:00; one sent on Saturday is due at the
    end of Monday (Tuesday 00:00), because all of Monday is its working day.
    """
    cursor = timezone.localtime(moment)
    remaining = timedelta(days=days)
    while remaining > timedelta(0):
        next_midnight = (cursor + timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        if cursor.weekday() >= SATURDAY:
            cursor = next_midnight
            continue
        step = min(remaining, next_midnight - cursor)
        cursor += step
        remaining -= step
    return cursor
