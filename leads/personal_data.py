"""Personal-data requests in the admin: find, export (JSON) or erase what the leads hold about
e-mail addresses. The work itself is in services (person_export, person_erase)."""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.http import urlencode

from skilldacity.addresses import normalise_email

from . import services
from .models import Lead


def personal_data_view(request, *, model_admin):
    """Find, export (JSON) or erase everything the leads hold about e-mail addresses."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    source = request.POST if request.method == "POST" else request.GET
    form = PersonalDataForm(source or None)
    emails = form.cleaned_data["email"] if form.is_valid() else []
    if emails and request.GET.get("format") == "json":
        payload = [services.person_export(email=email) for email in emails]
        response = HttpResponse(
            json.dumps(payload, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="personal-data.json"'
        return response
    if emails and request.method == "POST" and "erase" in request.POST:
        if not model_admin.can_erase(request):
            raise PermissionDenied
        with transaction.atomic():
            erased = sum(services.person_erase(email=email, actor=request.user) for email in emails)
        model_admin.message_user(
            request,
            f"Erased the personal data of {len(emails)} address(es) from {erased} lead(s). "
            "The leads still count in the figures.",
            messages.SUCCESS,
        )
        return redirect("admin:leads_lead_changelist")
    found = (
        {email: list(Lead.objects.for_email(email).order_by("-created_at")) for email in emails}
        if emails
        else {}
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Personal data",
        "form": form,
        "emails": emails,
        "found": found,
        "json_url": f"?{urlencode({'email': emails, 'format': 'json'}, doseq=True)}",
        "can_erase": model_admin.can_erase(request),
    }
    return TemplateResponse(request, "admin/leads/lead/personal_data.html", context)


class MultiEmailField(forms.Field):
    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def to_python(self, value):
        values = value if isinstance(value, list) else [value or ""]
        emails = []
        for item in values:
            emails.extend(normalise_email(part) for part in item.replace(",", "\n").splitlines())
        return sorted({email for email in emails if email})

    def validate(self, value):
        super().validate(value)
        for email in value:
            forms.EmailField().clean(email)


class PersonalDataForm(forms.Form):
    email = MultiEmailField(
        label="E-mail address(es)",
        help_text="One per line. Every lead sent with these addresses is shown.",
    )

    def __init__(self, data=None, **kwargs):
        if data is not None:
            data = {"email": data.getlist("email")}
        super().__init__(data, **kwargs)
