import logging

from celery import shared_task

from .selectors import ledger_drift

logger = logging.getLogger(__name__)


@shared_task
def audit_skillpoints():
    """Nightly drift check (schedule in CELERY_BEAT_SCHEDULE); drift is logged as an error."""
    drifted = list(ledger_drift())
    for account_id, cached, entries_total in drifted:
        logger.error(
            "SkillPoints drift: account %s cached %s, entries %s", account_id, cached, entries_total
        )
    return len(drifted)
