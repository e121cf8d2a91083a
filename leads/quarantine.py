"""Releasing a quarantined lead post: the form's normal submit path, spam checks aside."""

from django.urls import reverse

from skilldacity.quarantine.services import register_releaser, released_form

from .forms import FORMS, forget_catalogue
from .models import Lead

FORM_PATHS = {Lead.Kind.CALLBACK: "leads:callback", Lead.Kind.QUOTE: "leads:quote"}


def release(post):
    # Checked against the database, not this process's recent copy of the catalogue: staff may
    # have withdrawn a course in another process a moment ago, and inside the release's own
    # transaction a deleted one would only show at its COMMIT, past the form's error handling.
    forget_catalogue()
    form = released_form(FORMS[post.form], post)
    lead, created = form.submit(
        source_path=reverse(FORM_PATHS[post.form]), attribution=post.attribution, ip=post.ip
    )
    return f"lead {lead.pk}" if created else f"same as lead {lead.pk}, sent earlier"


def register():
    for kind in FORMS:
        register_releaser(kind, release)
