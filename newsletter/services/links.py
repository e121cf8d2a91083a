"""The signed links every newsletter e-mail carries, and the one-click unsubscribe headers."""

from django.conf import settings
from django.urls import reverse

from .. import tokens


def absolute_url(path):
    return f"{settings.SITE_URL}{path}"


def confirm_url(subscriber):
    token = tokens.make_token(
        subscriber_id=subscriber.pk, nonce=subscriber.token_nonce, purpose=tokens.CONFIRM
    )
    return absolute_url(reverse("newsletter:confirm", args=[token]))


def unsubscribe_url(*, subscriber_id, nonce):
    token = tokens.make_token(subscriber_id=subscriber_id, nonce=nonce, purpose=tokens.UNSUBSCRIBE)
    return absolute_url(reverse("newsletter:unsubscribe", args=[token]))


def one_click_headers(link):
    return {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
