"""Listens for people the site gets to know, so leads and newsletter need not import referrals."""

import logging

from django.db import transaction
from django.dispatch import receiver

from skilldacity.signals import person_known

from .services.rules import referral_record

logger = logging.getLogger(__name__)


@receiver(person_known, dispatch_uid="referrals.record_referral")
def record_referral(sender, *, email, source, email_confirmed=False, **kwargs):
    # The sender's own row (a lead, a subscription) matters more than a referral: a failure here
    # rolls back to this savepoint only, is logged, and never loses what the visitor sent.
    try:
        with transaction.atomic():
            referral_record(
                email=email,
                source=source,
                email_confirmed=email_confirmed,
                attribution=kwargs.get("attribution") or {},
                ip=kwargs.get("ip"),
                user=kwargs.get("user"),
            )
    except Exception:
        logger.exception("Could not record a referral for a %s event", source)
