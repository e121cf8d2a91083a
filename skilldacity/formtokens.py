"""Forms on pages a shared cache serves to everyone.

A cached page is the same bytes for every visitor, so its forms carry no CSRF token and no spam
timestamp (`{% form_csrf_input %}` renders an empty one on a GET). static/js/forms.js fills both
in from `form_token` (an uncached JSON endpoint, which also sets the CSRF cookie) when the visitor
starts on a form, before it is sent.

Without JavaScript the post arrives without a token and CSRF protection refuses it; for the forms
marked `@resubmit_on_csrf_failure`, `csrf_failure` answers with the same form filled in with what
was typed, a real token and a fresh timestamp, and asks the visitor to send it again: one extra
click, nothing lost. Every other CSRF failure gets Django's usual 403.
"""

import functools

from django.contrib import messages
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views import csrf
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .spam import RESEND_MESSAGE, STARTED_FIELD, form_started_token


@never_cache
@require_GET
def form_token(request):
    """A CSRF token for this visitor (the cookie comes with it) and a fresh signed timestamp."""
    return JsonResponse({"csrfToken": get_token(request), "formStarted": form_started_token()})


def resubmit_on_csrf_failure(*, form, template):
    """Mark a form view whose posts a no-JavaScript visitor may send from a cached page.

    `form(request)` builds the page's unbound form, `template` renders it as the view does (with
    `form` in its context)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            return view(request, *args, **kwargs)

        wrapper.resubmit_form = (form, template)
        return wrapper

    return decorate


def refilled(form, data):
    """`form` (unbound) showing what was posted in `data`, with a fresh timestamp. Unbound, so
    the visitor sees their input again without error messages about it."""
    for name, field in form.fields.items():
        value = field.widget.value_from_datadict(data, {}, form.add_prefix(name))
        if value not in (None, "", []):
            form.initial[name] = value
    form.initial[STARTED_FIELD] = form_started_token()
    return form


def csrf_failure(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: the posted form again, ready to send, where that is safe."""
    try:
        resubmit = getattr(resolve(request.path_info).func, "resubmit_form", None)
    except Resolver404:
        resubmit = None
    if request.method != "POST" or resubmit is None:
        return csrf.csrf_failure(request, reason)
    build_form, template = resubmit
    messages.info(request, RESEND_MESSAGE)
    # Rendered on a POST, so `form_csrf_input` puts this visitor's own token in.
    return render(request, template, {"form": refilled(build_form(request), request.POST)})
