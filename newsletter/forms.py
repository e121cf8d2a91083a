from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django import forms

from skilldacity.spam import SpamProtectedForm

from .models import Subscriber

CONSENT_TEXT = (
    "Yes, e-mail me Skilldacity updates, promotions and sneak peeks of upcoming products. "
    "I can unsubscribe at any time with one click."
)
EMBED_SOURCES = {Subscriber.Source.FOOTER, Subscriber.Source.ARTICLE, Subscriber.Source.PAGE}


def is_disposable(domain):
    """True for throwaway-mailbox domains and their subdomains (the list from the maintained
    disposable-email-domains package)."""
    parts = domain.lower().rstrip(".").split(".")
    return any(".".join(parts[i:]) in DISPOSABLE_DOMAINS for i in range(len(parts) - 1))


class SignupForm(SpamProtectedForm):
    cacheable = True

    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        error_messages={
            "required": "Please enter your e-mail address.",
            "invalid": "Please enter a valid e-mail address, like name@example.com.",
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )
    first_name = forms.CharField(
        label="First name (optional)",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    consent = forms.BooleanField(
        label=CONSENT_TEXT,
        error_messages={"required": "Please tick the box so we may e-mail you."},
    )
    source = forms.CharField(required=False, widget=forms.HiddenInput, max_length=20)
    article = forms.CharField(required=False, widget=forms.HiddenInput, max_length=20)

    def __init__(self, *args, source=Subscriber.Source.PAGE, article=None, **kwargs):
        # Ids carry the source, so the footer form and the article form on one page never share
        # an id; names stay plain so one view reads either.
        if source not in EMBED_SOURCES:
            source = Subscriber.Source.PAGE
        kwargs.setdefault("auto_id", f"nl-{source}-%s")
        super().__init__(*args, **kwargs)
        self.fields["source"].initial = source
        self.fields["article"].initial = article.pk if article else ""

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        domain = email.rsplit("@", 1)[-1]
        if is_disposable(domain):
            raise forms.ValidationError(
                "That looks like a temporary mailbox. Please use an address you will keep, so "
                "your discount code reaches you."
            )
        return email

    def clean_first_name(self):
        name = "".join(ch for ch in self.cleaned_data["first_name"] if ch.isprintable())
        return " ".join(name.split())

    def clean_article(self):
        # A reference for the staff insights only: a bad value is dropped, never an error.
        value = self.cleaned_data.get("article", "")
        return int(value) if value.isdigit() and len(value) < 12 else None

    def clean_source(self):
        source = self.cleaned_data.get("source")
        return source if source in EMBED_SOURCES else Subscriber.Source.PAGE
