from django import template
from django.utils.safestring import mark_safe

from skilldacity.pagecache import cached_fragments

from ..content import issue_content
from ..rendering import render_signup_form

register = template.Library()


@register.simple_tag
def newsletter_signup(source="footer", article=None):
    """The sign-up form for the footer and article pages.

    It is the same for every visitor (its token comes from the page's script), so the footer's
    copy is rendered once per cache generation.
    """
    if article is None:
        name = f"newsletter:{source}"
        html = cached_fragments({name: lambda: render_signup_form(source)})[name]
    else:
        html = render_signup_form(source, article)
    return mark_safe(html)  # noqa: S308 - rendered (autoescaped) by render_signup_form


@register.simple_tag
def newsletter_issue_content(issue_id, version):
    """Body and featured articles of an issue, for the newsletter e-mail templates."""
    return issue_content(issue_id, version)
