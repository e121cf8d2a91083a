"""The two public lead forms. They validate and report; `services.lead_submit` stores."""

import phonenumbers
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms
from django.db import IntegrityError
from django.utils.http import url_has_allowed_host_and_scheme

from skilldacity.recentrows import RecentRows
from skilldacity.spam import HONEYPOT_FIELD, SpamProtectedForm

from .models import Course, DevicePlatform, Lead
from .services import lead_submit

PHONE_REGION = "GB"
MAX_BIGINT = 2**63 - 1
# What the forms offer, and what a post is checked against from this process's recent copy.
ACTIVE_COURSES = RecentRows(Course.objects.filter(active=True))
ACTIVE_PLATFORMS = RecentRows(DevicePlatform.objects.filter(active=True))
CONSENT_TEXT = (
    "I agree that Skilldacity may contact me about this request by phone or e-mail and keep my "
    "details for that purpose, as described in the privacy notice."
)
# The zones most of our visitors call from; anything else can say so in the message.
CALL_TIMEZONES = [
    ("Europe/London", "UK and Ireland (London)"),
    ("Europe/Paris", "Central Europe (Paris, Berlin, Madrid)"),
    ("Europe/Athens", "Eastern Europe (Athens, Bucharest)"),
    ("Asia/Dubai", "Gulf (Dubai)"),
    ("Asia/Kolkata", "India (Kolkata)"),
    ("Asia/Singapore", "Singapore, Hong Kong"),
    ("Australia/Sydney", "Australia East (Sydney)"),
    ("America/New_York", "US and Canada Eastern (New York)"),
    ("America/Chicago", "US and Canada Central (Chicago)"),
    ("America/Denver", "US and Canada Mountain (Denver)"),
    ("America/Los_Angeles", "US and Canada Pacific (Los Angeles)"),
    ("Africa/Lagos", "West Africa (Lagos)"),
    ("Africa/Johannesburg", "South Africa (Johannesburg)"),
]


class PhoneNumberField(forms.CharField):
    """A phone number in any common notation, cleaned to E.164 (UK numbers need no +44)."""

    default_error_messages = {
        "invalid": "Enter a valid phone number, e.g. 07911 123456 or +44 7911 123456.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 30)
        super().__init__(**kwargs)
        self.widget.attrs.update({"autocomplete": "tel", "inputmode": "tel"})

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return ""
        try:
            number = phonenumbers.parse(value, PHONE_REGION)
        except phonenumbers.NumberParseException as exc:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from exc
        if not phonenumbers.is_valid_number(number):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def forget_catalogue():
    """Read the courses and platforms from the database again on their next use."""
    ACTIVE_COURSES.forget()
    ACTIVE_PLATFORMS.forget()


def _is_id(value):
    """A primary key the database can hold. SQLite raises OverflowError past 64 bits (PostgreSQL
    answers "no such row"), which Django's choice fields don't catch."""
    text = str(value)
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_BIGINT


class CatalogueChoiceField(forms.ModelChoiceField):
    """A choice of one active course or platform. The page lists the queryset; a post is checked
    against this process's recent copy of the catalogue instead of a query per field."""

    def __init__(self, *, catalogue, **kwargs):
        super().__init__(queryset=catalogue.queryset, **kwargs)
        self.catalogue = catalogue

    def to_python(self, value):
        if value in self.empty_values:
            return None
        row = self.catalogue.get(int(value)) if _is_id(value) else None
        if row is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return row


class CatalogueMultipleChoiceField(forms.ModelMultipleChoiceField):
    def __init__(self, *, catalogue, **kwargs):
        super().__init__(queryset=catalogue.queryset, **kwargs)
        self.catalogue = catalogue

    def _check_values(self, value):
        """The chosen rows, each once, in the order given (a list, not a queryset)."""
        rows = {}
        for item in value:
            if not _is_id(item):
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": item},
                )
            row = self.catalogue.get(int(item))
            if row is None:
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": item},
                )
            rows[row.pk] = row
        return list(rows.values())


class ActiveCourseChoiceField(CatalogueChoiceField):
    def label_from_instance(self, obj):
        return obj.title


class LeadForm(SpamProtectedForm):
    """What both forms share: who is asking, consent, and where the form was shown."""

    kind = None
    prefix_name = None
    cacheable = True

    name = forms.CharField(
        label="Your name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": "Please tell us your name."},
    )
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={
            "required": "Please give us an e-mail address.",
            "invalid": "Enter a valid e-mail address, e.g. name@example.com.",
        },
    )
    platform = CatalogueChoiceField(
        label="Device platform",
        catalogue=ACTIVE_PLATFORMS,
        empty_label="Choose a platform",
        error_messages={
            "required": "Please choose a device platform.",
            "invalid_choice": "Please choose a device platform from the list.",
        },
    )
    message = forms.CharField(
        label="Anything else we should know? (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    consent = forms.BooleanField(
        label=CONSENT_TEXT,
        error_messages={"required": "Please tick the box so that we may contact you."},
    )
    # Where the form was shown. Hidden, and never an error: a bad value is just not recorded.
    article = forms.CharField(required=False, widget=forms.HiddenInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    lead_fields = ("name", "email", "phone", "platform", "message")

    def __init__(self, *args, article=None, source_path="", **kwargs):
        kwargs.setdefault("prefix", self.prefix_name)
        super().__init__(*args, **kwargs)
        self.fields[HONEYPOT_FIELD].widget.attrs["class"] = "hp-field"
        if article is not None:
            self.initial.setdefault("article", str(article.pk))
        self.initial.setdefault("next", source_path)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            *(
                Field(name, wrapper_class="hp-field") if name == HONEYPOT_FIELD else name
                for name in self.fields
            )
        )

    def clean_article(self):
        value = self.cleaned_data.get("article", "")[:20]
        return int(value) if _is_id(value) else None

    def clean_next(self):
        value = self.cleaned_data.get("next", "")
        # Only a path on this site; anything else (another host, a scheme) is not recorded.
        if url_has_allowed_host_and_scheme(value, allowed_hosts=None) and value.startswith("/"):
            return value[:500]
        return ""

    def lead_data(self):
        """The Lead columns from the cleaned form (courses and attribution are separate)."""
        return {name: self.cleaned_data[name] for name in self.lead_fields}

    def chosen_courses(self):
        raise NotImplementedError

    def submit(self, *, source_path, attribution, ip, user=None):
        """Record the lead this valid form describes. Returns (lead, created).

        The view calls it for a post that passed the spam checks, the quarantine for a post that
        staff released. Raises ValidationError, with the form's errors filled in, when a chosen
        course or platform was deleted since this process last read the catalogue.
        """
        article_id = self.cleaned_data["article"]
        try:
            return lead_submit(
                kind=self.kind,
                fields=self.lead_data(),
                courses=self.chosen_courses(),
                consent_text=CONSENT_TEXT,
                attribution=attribution,
                source_path=self.cleaned_data["next"] or source_path,
                # Through the foreign key: articles imports insights, which imports leads.
                article=Lead.article.field.related_model.objects.filter(pk=article_id).first()
                if article_id
                else None,
                ip=ip,
                user=user,
            )
        except IntegrityError:
            # Another process deleted a course or platform a few seconds ago (RecentRows): check
            # the choices against the database, so that the visitor is asked to choose again.
            forget_catalogue()
            self.full_clean()
            if self.is_valid():
                raise
            raise forms.ValidationError(
                [message for errors in self.errors.values() for message in errors]
            ) from None


class CallbackForm(LeadForm):
    """ "Let's get in touch": which course and platform, and when to call."""

    kind = Lead.Kind.CALLBACK
    prefix_name = "callback"

    phone = PhoneNumberField(
        label="Phone number",
        error_messages={"required": "Please give us a number to call."},
    )
    course = ActiveCourseChoiceField(
        label="Course you're interested in",
        catalogue=ACTIVE_COURSES,
        empty_label="Choose a course",
        error_messages={
            "required": "Please choose a course.",
            "invalid_choice": "Please choose a course from the list.",
        },
    )
    call_time = forms.ChoiceField(
        label="Best time to call",
        choices=[("", "Choose a time"), *Lead.CallTime.choices],
        error_messages={
            "required": "Please tell us when to call.",
            "invalid_choice": "Please choose a time from the list.",
        },
    )
    call_timezone = forms.ChoiceField(
        label="Your time zone",
        choices=CALL_TIMEZONES,
        initial="Europe/London",
        error_messages={"invalid_choice": "Please choose a time zone from the list."},
    )

    field_order = [
        "name", "phone", "email", "course", "platform", "call_time", "call_timezone",
        "message", "consent",
    ]  # fmt: skip
    lead_fields = (*LeadForm.lead_fields, "call_time", "call_timezone")

    def chosen_courses(self):
        return [self.cleaned_data["course"]]


class QuoteForm(LeadForm):
    """ "Get a quote": who the organisation is, how many learners, which courses."""

    kind = Lead.Kind.QUOTE
    prefix_name = "quote"

    phone = PhoneNumberField(label="Phone number (optional)", required=False)
    organisation = forms.CharField(
        label="Organisation",
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
        error_messages={"required": "Please tell us your organisation's name."},
    )
    learners = forms.IntegerField(
        label="Number of learners",
        min_value=1,
        max_value=100_000,
        error_messages={
            "required": "Please tell us roughly how many people will learn.",
            "invalid": "Enter the number of learners as a whole number, e.g. 12.",
            "min_value": "The number of learners must be at least 1.",
            "max_value": "For more than 100,000 learners, please call us.",
        },
    )
    courses = CatalogueMultipleChoiceField(
        label="Courses",
        catalogue=ACTIVE_COURSES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Please choose at least one course.",
            "invalid_choice": "Please choose courses from the list.",
            "invalid_pk_value": "Please choose courses from the list.",
        },
    )
    delivery = forms.ChoiceField(
        label="Delivery",
        choices=Lead.Delivery.choices,
        initial=Lead.Delivery.ONLINE,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Please choose how you'd like the training delivered.",
            "invalid_choice": "Please choose a delivery option from the list.",
        },
    )
    timeframe = forms.ChoiceField(
        label="When would you like to start?",
        choices=[("", "Choose a timeframe"), *Lead.Timeframe.choices],
        error_messages={
            "required": "Please tell us when you'd like to start.",
            "invalid_choice": "Please choose a timeframe from the list.",
        },
    )

    field_order = [
        "name", "email", "phone", "organisation", "learners", "courses", "platform", "delivery",
        "timeframe", "message", "consent",
    ]  # fmt: skip
    lead_fields = (*LeadForm.lead_fields, "organisation", "learners", "delivery", "timeframe")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].label = "Work e-mail address"
        self.fields["courses"].label_from_instance = lambda course: course.title

    def chosen_courses(self):
        return list(self.cleaned_data["courses"])


FORMS = {Lead.Kind.CALLBACK: CallbackForm, Lead.Kind.QUOTE: QuoteForm}
