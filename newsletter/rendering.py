"""The sign-up form as shared HTML: the same for every visitor, so it is rendered once per cache
generation with a placeholder CSRF token (see skilldacity.pagecache)."""

from django.template.loader import render_to_string

from skilldacity.pagecache import CSRF_PLACEHOLDER

from .forms import SignupForm


def render_signup_form(source, article=None):
    return render_to_string(
        "newsletter/_signup_form.html",
        {
            "form": SignupForm(source=source, article=article),
            "source": source,
            "csrf_token": CSRF_PLACEHOLDER,
        },
    )
