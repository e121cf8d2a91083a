"""Turning spam away quietly: a honeypot, a minimum fill time and per-IP rate limits.

Public forms inherit `SpamProtectedForm`. A view asks `form.is_spam()` after validation and, when it
is, answers exactly as for a success while storing nothing, so a bot learns nothing.

The fill time is measured from a signed timestamp. Forms on pages a shared cache serves to everyone
(`cacheable = True`) are rendered without one: a timestamp baked into a page cached for ten minutes
would say nothing about how fast this visitor typed. The page's script asks `/forms/token/` for a
fresh one when the visitor starts on the form (skilldacity/formtokens.py); a post that arrives
without one gets the form back, input kept, with a fresh timestamp and "please send it again".
"""

import logging
import time

from django import forms
from django.conf import settings
from django.core import signing
from django_ratelimit.core import is_ratelimited

logger = logging.getLogger(__name__)

_SIGNER_SALT = "skilldacity.spam.form-started"
STALE_FORM_MESSAGE = (
    "This form was open for a long time. Please check your details and send it again."
)
RESEND_MESSAGE = "Almost there: please check your details and send the form again."
HONEYPOT_FIELD = "website"
STARTED_FIELD = "form_started"


def form_started_token(now=None):
    """A signed timestamp rendered into the form, proving when the form was served."""
    return signing.dumps(int(now if now is not None else time.time()), salt=_SIGNER_SALT)


class SpamProtectedForm(forms.Form):
    """Adds a honeypot field and a signed render-time field to any form (use as a mixin first)."""

    honeypot_field = HONEYPOT_FIELD
    # Shown on pages a shared cache may serve to everyone: rendered without a timestamp.
    cacheable = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[HONEYPOT_FIELD] = forms.CharField(
            required=False,
            label="Leave this field empty",
            widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
        )
        self.fields[STARTED_FIELD] = forms.CharField(
            required=False,
            widget=forms.HiddenInput,
            initial="" if self.cacheable else form_started_token,
        )
        self._spam_reason = None

    def clean(self):
        cleaned = super().clean()
        self._spam_reason = self._detect_spam()
        if self._spam_reason in ("expired", "missing"):
            # A person who left the page open for a day, or whose browser did not fetch a
            # timestamp for a cached page, is no bot: keep their input, give the form a fresh
            # timestamp and ask them to send it again.
            message = STALE_FORM_MESSAGE if self._spam_reason == "expired" else RESEND_MESSAGE
            self._spam_reason = None
            data = self.data.copy()
            data[self.add_prefix(STARTED_FIELD)] = form_started_token()
            self.data = data
            raise forms.ValidationError(message, code="stale")
        return cleaned

    def _detect_spam(self):
        # Field names carry the form's prefix: several forms can share one page.
        if self.data.get(self.add_prefix(HONEYPOT_FIELD)):
            return "honeypot"
        token = self.data.get(self.add_prefix(STARTED_FIELD), "")
        if not token:
            return "missing"
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


def rate_limited(request, *, group, rate):
    """Count this request against a per-IP limit (e.g. rate="5/m") and say whether it is over.

    Uses the default cache, so in production the count is shared by every web process via Redis.
    When the cache is unreachable the request is let through: losing a real visitor's lead to a
    Redis outage costs more than letting a few extra posts in for a while.
    """
    try:
        return is_ratelimited(request, group=group, key="ip", rate=rate, increment=True)
    except Exception:  # noqa: BLE001 - any cache failure means "cannot tell", not "refuse"
        logger.warning("Rate limit for %s not checked: the cache is unreachable", group)
        return False
