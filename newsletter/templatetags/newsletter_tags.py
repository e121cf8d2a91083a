from django import template
from django.utils.safestring import mark_safe

from skilldacity.pagecache import cached_fragments, with_visitor_csrf

from ..content import issue_content
from ..rendering import render_signup_form

register = template.Library()


@register.simple_tag(takes_context=True)
def newsletter_signup(context, source="footer", article=None):
    """The sign-up form for the footer, article pages and the sign-up page.

    It is the same for every visitor but the CSRF token, so the footer's copy is rendered once
    per cache generation. Inside a shared fragment (no request in the context) the placeholder
    token stays for the fragment's owner to replace.
    """
    if article is None:
        name = f"newsletter:{source}"
        html = cached_fragments({name: lambda: render_signup_form(source)})[name]
    else:
        html = render_signup_form(source, article)
    request = context.get("request")
    if request is not None:
        html = with_visitor_csrf(html, request)
    return mark_safe(html)  # noqa: S308 - rendered (autoescaped) by render_signup_form


@register.simple_tag
def newsletter_issue_content(issue_id, version):
    """Body and featured articles of an issue, for the newsletter e-mail templates."""
    return issue_content(issue_id, version)
