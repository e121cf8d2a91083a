"""Releasing a quarantined newsletter sign-up: the normal sign-up, spam checks aside."""

from skilldacity.quarantine.services import register_releaser, released_form

from .forms import SignupForm

QUARANTINE_FORM = "newsletter"


def release(post):
    source = (post.payload.get("source") or [""])[0]
    form = released_form(SignupForm, post, source=source)
    subscriber = form.submit(ip=post.ip, attribution=post.attribution)
    return f"subscriber {subscriber.pk} ({subscriber.get_status_display().lower()})"


def register():
    register_releaser(QUARANTINE_FORM, release)
