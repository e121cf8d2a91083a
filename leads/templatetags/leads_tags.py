"""The lead forms as calls to action on other pages (article pages above all).

Public pages are cached for everyone by the HTTP cache in front, so these forms carry nothing
about the visitor (their CSRF token and timestamp come from the page's script): only the article
and the page they sit on.
"""

from django import template

from ..forms import CallbackForm, QuoteForm

register = template.Library()


def _embedded(context, form_class, article):
    source_path = article.get_absolute_url() if article is not None else ""
    request = context.get("request")
    if not source_path and request is not None:
        source_path = request.path
    return {
        "form": form_class(article=article, source_path=source_path),
        "embedded": True,
    }


@register.inclusion_tag("leads/_callback_form.html", takes_context=True)
def callback_form(context, article=None):
    """The "Let's get in touch" form, embedded on article pages (and anywhere else)."""
    return _embedded(context, CallbackForm, article)


@register.inclusion_tag("leads/_quote_form.html", takes_context=True)
def quote_form(context, article=None):
    """The "Get a quote" form, embedded on article pages (and anywhere else)."""
    return _embedded(context, QuoteForm, article)
