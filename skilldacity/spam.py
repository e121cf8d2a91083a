"""Turning spam away quietly: a honeypot, a minimum fill time and per-IP rate limits.

Public forms inherit `SpamProtectedForm`. A view asks `form.is_spam()` after validation and, when it
is, answers exactly as for a success while storing nothing, so a bot learns nothing.
"""

import logging
import time

from django import forms
from django.conf import settings
from django.core import signing
from django_ratelimit.core import is_ratelimited

from skilldacity.clientip import rate_limit_key

logger = logging.getLogger(__name__)

_SIGNER_SALT = "skilldacity.spam.form-started"
STALE_FORM_MESSAGE = (
    "This form was open for a long time. Please check your details and send it again."
)
HONEYPOT_FIELD = "website"
STARTED_FIELD = "form_started"


def form_started_token(now=None):
    """A signed timestamp rendered into the form, proving when the form was served."""
    return signing.dumps(int(now if now is not None else time.time()), salt=_SIGNER_SALT)


class SpamProtectedForm(forms.Form):
    """Adds a honeypot field and a signed render-time field to any form (use as a mixin first)."""

    honeypot_field = HONEYPOT_FIELD

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[HONEYPOT_FIELD] = forms.CharField(
            required=False,
            label="Leave this field empty",
            widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
        )
        self.fields[STARTED_FIELD] = forms.CharField(
            required=False, widget=forms.HiddenInput, initial=form_started_token
        )
        self._spam_reason = None

    def clean(self):
        cleaned = super().clean()
        self._spam_reason = self._detect_spam()
        if self._spam_reason == "expired":
            # A person who left the page open for a day is no bot: keep their input, give the
            # form a fresh timestamp and ask them to send it again.
            self._spam_reason = None
            data = self.data.copy()
            data[self.add_prefix(STARTED_FIELD)] = form_started_token()
            self.data = data
            raise forms.ValidationError(STALE_FORM_MESSAGE, code="stale")
        return cleaned

    def _detect_spam(self):
        # Field names carry the form's prefix: several forms can share one page.
        if self.data.get(self.add_prefix(HONEYPOT_FIELD)):
            return "honeypot"
        token = self.data.get(self.add_prefix(STARTED_FIELD), "")
        try:
            started = signing.loads(token, salt=_SIGNER_SALT, max_age=settings.FORM_MAX_AGE_SECONDS)
        except signing.SignatureExpired:
            return "expired"
        except signing.BadSignature:
            return "bad-timestamp"
        if not isinstance(started, int) or time.time() - started < settings.FORM_MIN_FILL_SECONDS:
            return "too-fast"
        return None

    def is_spam(self):
        """True when the post looks automated. Call after is_valid()."""
        if not hasattr(self, "cleaned_data"):
            self.full_clean()
        return self._spam_reason is not None

    @property
    def spam_reason(self):
        return self._spam_reason


def without_spam_checks(form_class):
    """`form_class`, except that no post is judged spam: for a post staff reviewed and released
    from quarantine (its render-time token has long expired by then)."""
    return type(form_class.__name__, (form_class,), {"_detect_spam": lambda self: None})


def rate_limited(request, *, group, rate):
    """Count this request against a per-IP limit (e.g. rate="5/m") and say whether it is over.

    Uses the default cache, so in production the count is shared by every web process via Redis.
    When the cache is unreachable the request is let through: losing a real visitor's lead to a
    Redis outage costs more than letting a few extra posts in for a while.
    """
    try:
        return is_ratelimited(request, group=group, key=rate_limit_key, rate=rate, increment=True)
    except Exception:  # noqa: BLE001 - any cache failure means "cannot tell", not "refuse"
        logger.warning("Rate limit for %s not checked: the cache is unreachable", group)
        return False
