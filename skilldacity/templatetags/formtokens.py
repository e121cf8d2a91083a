from django import template
from django.middleware.csrf import get_token
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def form_csrf_input(context):
    """The CSRF input of a public form: empty on a page answering a GET (shared caches may serve
    it to everyone; static/js/forms.js fills it in), this visitor's token on the answer to a
    POST (a form shown again with its errors), which is never cached."""
    request = context.get("request")
    token = get_token(request) if request is not None and request.method == "POST" else ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
