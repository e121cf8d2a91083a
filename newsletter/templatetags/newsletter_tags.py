from django import template

from ..content import issue_content
from ..forms import SignupForm

register = template.Library()


@register.inclusion_tag("newsletter/_signup_form.html", takes_context=True)
def newsletter_signup(context, source="footer", article=None):
    """The sign-up form for the footer, article pages and the sign-up page.

    It renders the same for every visitor (public pages are cached), except the CSRF token,
    which the page cache substitutes when it serves the page.
    """
    return {
        "form": SignupForm(source=source, article=article),
        "source": source,
        "request": context.get("request"),
    }


@register.simple_tag
def newsletter_issue_content(issue_id, version):
    """Body and featured articles of an issue, for the newsletter e-mail templates."""
    return issue_content(issue_id, version)
