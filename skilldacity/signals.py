"""Signals that cross app boundaries.

`person_known` is sent when a visitor becomes a known person: they submit a lead, confirm a
newsletter subscription or verify a new account. The referrals app listens, so that leads and
newsletter need not import it. Send it inside the transaction that records the person (receivers
write in it too).

Keyword arguments:
    email: the person's e-mail address.
    source: "lead", "newsletter" or "account".
    email_confirmed: True when the person proved they own the address (confirmed or
        verified).
    attribution: the visitor's first-landing attribution dict (see skilldacity.attribution), which
        carries the referral code under "ref" when they came through a SkillPoints link.
    ip: the client IP address of the request, or None.
    user: the django User when the person is an account holder, else None.
"""

from django.dispatch import Signal

person_known = Signal()
