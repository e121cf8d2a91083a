"""Listens for people the site gets to know, so leads and newsletter need not import referrals."""

import logging

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from skilldacity.addresses import normalise_email
from skilldacity.signals import person_known

from .services.rules import referral_record, remember_email

logger = logging.getLogger(__name__)


@receiver(person_known, dispatch_uid="referrals.record_referral")
def record_referral(sender, *, email, source, email_confirmed=False, **kwargs):
    attribution = kwargs.get("attribution") or {}
    user = kwargs.get("user")
    if not (attribution.get("ref") or email_confirmed or user is not None):
        # Most events (an anonymous lead, a sign-up before its confirmation) carry no referral
        # code, confirm nothing and name no account, so no referral can be created, confirmed or
        # paid: the site only notes that it knows the person now (for a lead, the lead itself
        # says so). That is one statement at most, which cannot fail on a repeat, so it needs
        # neither referral_record's lookups nor a savepoint.
        email = normalise_email(email)
        if "@" in email:
            remember_email(email, source, timezone.now())
        return
    # The sender's own row (a lead, a subscription) matters more than a referral: a failure here
    # rolls back to this savepoint only, is logged, and never loses what the visitor sent.
    try:
        with transaction.atomic():
            referral_record(
                email=email,
                source=source,
                email_confirmed=email_confirmed,
                attribution=attribution,
                ip=kwargs.get("ip"),
                user=user,
            )
    except Exception:
        logger.exception("Could not record a referral for a %s event", source)
