from django import template

register = template.Library()


@register.inclusion_tag("leads/_callback_cta.html", takes_context=True)
def callback_form(context, article=None):
    """The "Let's get in touch" form, embedded on article pages (and anywhere else)."""
    return {"article": article, "request": context.get("request")}


@register.inclusion_tag("leads/_quote_cta.html", takes_context=True)
def quote_form(context, article=None):
    """The "Get a quote" form, embedded on article pages (and anywhere else)."""
    return {"article": article, "request": context.get("request")}
