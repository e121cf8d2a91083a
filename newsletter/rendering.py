"""The sign-up form as shared HTML: the same for every visitor, so it is rendered once per cache
generation (see skilldacity.pagecache), without a CSRF token (see skilldacity.formtokens)."""

from django.template.loader import render_to_string

from .forms import SignupForm


def render_signup_form(source, article=None):
    return render_to_string(
        "newsletter/_signup_form.html",
        {
            "form": SignupForm(source=source, article=article),
            "source": source,
        },
    )
