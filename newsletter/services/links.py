"""The signed links every newsletter e-mail carries, and the one-click unsubscribe headers."""

from django.conf import settings
from django.core import signing
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


def unsubscribe_links():
    """`unsubscribe_url` for many subscribers: the signer and the URL pattern are set up once,
    not once per recipient (the two cost more than the rest of queueing an e-mail)."""
    signer = signing.TimestampSigner(salt=tokens.UNSUBSCRIBE)
    placeholder = "0token0"
    before, after = absolute_url(reverse("newsletter:unsubscribe", args=[placeholder])).split(
        placeholder
    )

    def link(*, subscriber_id, nonce):
        return before + signer.sign_object([subscriber_id, nonce], compress=False) + after

    return link
