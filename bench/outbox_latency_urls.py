"""A form-like view for bench/outbox_request_latency.py, with e-mail on or off.

Both modes validate the same form and write one row (a Group stands in for the lead) in one
transaction; with e-mail on, that transaction also records the e-mail and publishes its task
after commit, exactly as the site's forms do. CSRF is off only because the bench client posts
without a page first; this URLconf is never part of the site.
"""

import uuid

from django import forms
from django.contrib.auth.models import Group
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from skilldacity.outbox.services import email_enqueue


class ContactForm(forms.Form):
    name = forms.CharField(max_length=100)
    email = forms.EmailField()


@csrf_exempt
def contact(request, mode):
    form = ContactForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    ref = uuid.uuid4().hex
    with transaction.atomic():
        Group.objects.create(name=f"bench-{ref}")
        if mode == "outbox":
            email_enqueue(
                key=f"bench-contact:{ref}",
                to=form.cleaned_data["email"],
                template="test_message",
                context={"name": form.cleaned_data["name"]},
            )
    if mode == "inline-smtp":  # what the outbox avoids: SMTP inside the request
        send_mail("Thanks", "Thanks", None, [form.cleaned_data["email"]])
    return HttpResponse("Thanks, we will be in touch.")


urlpatterns = [path("contact/<str:mode>/", contact)]
