import uuid

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.urls import reverse

from skilldacity.addresses import normalise_email
from skilldacity.outbox.services import email_enqueue
from skilldacity.spam import SpamProtectedForm

from .models import ReferrerAccount


class SignupForm(SpamProtectedForm):
    email = forms.EmailField(
        label="E-mail address",
        max_length=150,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "id": "signup-email"}),
        error_messages={
            "required": "Enter your e-mail address.",
            "invalid": "Enter an e-mail address like name@example.com.",
        },
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "id": "signup-pw1"}),
        help_text="At least 8 characters; not only numbers and not a common password.",
        error_messages={"required": "Choose a password."},
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "id": "signup-pw2"}),
        error_messages={"required": "Type the password again."},
    )

    def clean_email(self):
        return normalise_email(self.cleaned_data["email"])

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords are not the same.")
        elif first:
            from django.contrib.auth.models import User

            probe = User(username=cleaned.get("email", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(first, probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    """Sign in with the e-mail address, in any letter case (accounts store it lower-cased)."""

    username = forms.CharField(
        label="E-mail address",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail address and password do not match an account. "
        "Passwords are case-sensitive.",
        "inactive": "This account is not verified yet: use the link we e-mailed you.",
    }

    def clean_username(self):
        # Accounts are named by their e-mail address (see services.account_signup).
        return normalise_email(self.cleaned_data["username"])


class OutboxPasswordResetForm(PasswordResetForm):
    """Password reset e-mails go through the outbox like every other e-mail."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        path = reverse(
            "password_reset_confirm", kwargs={"uidb64": context["uid"], "token": context["token"]}
        )
        email_enqueue(
            key=f"account-password-reset:{context['uid']}:{context['token']}",
            to=to_email,
            template="account_password_reset",
            context={"reset_path": path},
        )


class RedeemForm(forms.Form):
    """One button per reward. The request key makes a double-click redeem once."""

    reward = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)
    request_key = forms.CharField(widget=forms.HiddenInput, min_length=8, max_length=40)

    @staticmethod
    def initial_for(reward):
        return {"reward": reward.pk, "request_key": uuid.uuid4().hex}


class AdjustmentForm(forms.Form):
    account = forms.ModelChoiceField(queryset=ReferrerAccount.objects.select_related("user"))
    amount = forms.IntegerField(
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Points to add (positive) or take away (negative). Cannot take the balance "
        "below zero.",
    )
    note = forms.CharField(
        max_length=300, help_text="Why: the referrer's history shows entries, staff see this."
    )

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter a number of points other than zero.")
        return amount
