"""Periodic lead work (scheduled in settings.CELERY_BEAT_SCHEDULE). Thin: the services decide."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def remind_overdue_leads():
    return services.leads_remind_overdue()


@shared_task(ignore_result=True)
def anonymise_expired_leads():
    return services.leads_anonymise_expired()
