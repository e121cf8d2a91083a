from django import template

register = template.Library()


@register.inclusion_tag("newsletter/_signup_form.html", takes_context=True)
def newsletter_signup(context, source="footer"):
    """The newsletter sign-up form, placed in the footer, on articles and on its own page."""
    return {"source": source, "request": context.get("request")}
