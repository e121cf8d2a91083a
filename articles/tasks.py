"""Thin Celery wrappers."""

from celery import shared_task

from . import purges


@shared_task(ignore_result=True)
def purge_went_live():
    return len(purges.purge_went_live())
