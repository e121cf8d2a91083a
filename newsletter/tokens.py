"""Signed links in newsletter e-mails: confirm a subscription, unsubscribe.

A token names the subscriber and their current `token_nonce`. Re-subscribing draws a new nonce, so
links from an earlier subscription stop working; signing with a purpose-specific salt keeps a
confirmation link from being used as an unsubscribe link and vice versa.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing

from .models import Subscriber

CONFIRM = "newsletter.confirm"
UNSUBSCRIBE = "newsletter.unsubscribe"


class TokenError(Exception):
    """The link cannot be used. `reason` is "invalid", "expired" or "stale"."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def confirm_max_age():
    return timedelta(days=settings.NEWSLETTER_CONFIRM_MAX_AGE_DAYS)


def make_token(*, subscriber_id, nonce, purpose):
    return signing.dumps([subscriber_id, nonce], salt=purpose, compress=False)


def read_token(token, *, purpose, max_age=None):
    """The subscriber the token names. Raises TokenError; never anything else."""
    try:
        subscriber_id, nonce = signing.loads(token, salt=purpose, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise TokenError("expired") from exc
    except (signing.BadSignature, TypeError, ValueError) as exc:
        raise TokenError("invalid") from exc
    if not isinstance(subscriber_id, int) or not isinstance(nonce, str):
        raise TokenError("invalid")
    subscriber = Subscriber.objects.filter(pk=subscriber_id, token_nonce=nonce).first()
    if subscriber is None:
        raise TokenError("stale")
    return subscriber
