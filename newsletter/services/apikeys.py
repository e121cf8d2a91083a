"""API keys for the checkout's discount-code API. Only a key's SHA-256 is stored."""

import hashlib
import secrets

from django.utils import timezone

from ..models import ApiKey

API_KEY_PREFIX = "skd_"


def _hash_key(raw):
    # The keys are 256-bit random strings, so a fast hash is enough; a slow password hash would
    # only add latency to every checkout call.
    return hashlib.sha256(raw.encode()).hexdigest()


def apikey_create(*, name):
    """Make a key for an integration. Returns (ApiKey, the key): the key is never stored."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(name=name, prefix=raw[:12], key_hash=_hash_key(raw))
    return api_key, raw


def apikey_authenticate(*, raw):
    """The live ApiKey for this secret, or None."""
    if not raw or not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
        return None
    api_key = ApiKey.objects.filter(key_hash=_hash_key(raw), revoked_at__isnull=True).first()
    if api_key is not None:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key
