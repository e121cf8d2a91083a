"""Periodic insights work (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import rollups


@shared_task(ignore_result=True)
def tally_new_leads():
    return rollups.tally_new_leads()
