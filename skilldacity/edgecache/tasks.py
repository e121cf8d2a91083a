"""Thin Celery wrappers around the edge cache purge services."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def send_purge(purge_id):
    return services.purge_send(purge_id=purge_id)


@shared_task(ignore_result=True)
def sweep_purges():
    if services.enabled():
        services.purge_sweep()
