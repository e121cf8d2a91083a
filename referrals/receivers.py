"""Listens for people the site gets to know, so leads and newsletter need not import referrals."""

from django.dispatch import receiver

from skilldacity.signals import person_known

from .services import referral_record


@receiver(person_known, dispatch_uid="referrals.record_referral")
def record_referral(sender, *, email, source, email_confirmed=False, **kwargs):
    referral_record(
        email=email,
        source=source,
        email_confirmed=email_confirmed,
        attribution=kwargs.get("attribution") or {},
        ip=kwargs.get("ip"),
        user=kwargs.get("user"),
    )
