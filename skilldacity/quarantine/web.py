"""What a view calls when a post is judged spam."""

from skilldacity.attribution import get_attribution
from skilldacity.clientip import client_ip

from .services import form_payload, quarantine_post


def quarantine_form(request, form, *, form_name, reason):
    """Keep this validated form's post in quarantine (or drop it if its IP has had its share)."""
    return quarantine_post(
        form_name=form_name,
        reason=reason,
        payload=form_payload(form),
        ip=client_ip(request),
        attribution=get_attribution(request),
    )
