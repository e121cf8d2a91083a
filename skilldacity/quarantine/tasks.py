from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def purge_quarantine():
    return services.quarantine_purge()
