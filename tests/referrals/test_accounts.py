"""Sign up, verify, sign in and reset a password, as a visitor does it."""

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import reverse

from referrals.models import Referral, ReferrerAccount
from referrals.services import accounts
from skilldacity.outbox.models import Email
from skilldacity.spam import form_started_token

from .factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a-long-unusual-passphrase"


def signup_data(email="new@example.com", **overrides):
    return {
        "email": email,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "form_started": form_started_token(now=time.time() - 10),
        **overrides,
    }


def verify_path_from_outbox(email):
    return Email.objects.get(to=email, template="account_verify").context["verify_path"]


class TestSignup:
    def test_creates_an_inactive_account_and_sends_one_verification_link(
        self, client, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("referrals:signup"), signup_data("New@Example.com"))
        assert response.status_code == 302
        assert response.url == reverse("referrals:signup_done")
        user = User.objects.get()
        assert (user.username, user.email, user.is_active) == (
            "new@example.com",
            "new@example.com",
            False,
        )
        assert user.referrer_account.email_verified_at is None
        assert len(mailoutbox) == 1
        assert mailoutbox[0].to == ["new@example.com"]
        assert re.search(r"http://\S+/accounts/verify/\S+/", mailoutbox[0].body)
        page = client.get(response.url)
        assert b"new@example.com" in page.content

    @pytest.mark.parametrize(
        ("overrides", "field", "message"),
        [
            ({"email": ""}, "email", "Enter your e-mail address."),
            ({"email": "not-an-address"}, "email", "Enter an e-mail address like"),
            ({"password2": "different-passphrase"}, "password2", "not the same"),
            ({"password1": "12345678", "password2": "12345678"}, "password1", "too common"),
            ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ],
    )
    def test_bad_input_shows_the_error_keeps_the_input_and_stores_nothing(
        self, client, overrides, field, message
    ):
        data = signup_data(**overrides)
        response = client.post(reverse("referrals:signup"), data)
        assert response.status_code == 200
        errors = response.context["form"].errors[field]
        assert any(message in error for error in errors)
        if data["email"]:
            assert f'value="{data["email"]}"'.encode() in response.content
        assert not User.objects.exists()
        assert not Email.objects.exists()

    def test_spam_is_answered_like_success_and_stores_nothing(self, client):
        response = client.post(
            reverse("referrals:signup"), signup_data(website="http://spam.example")
        )
        assert response.status_code == 302
        assert not User.objects.exists()
        assert not Email.objects.exists()

    def test_existing_address_gets_an_email_not_a_second_account(self, client):
        UserFactory(email="taken@example.com")
        response = client.post(reverse("referrals:signup"), signup_data("TAKEN@example.com"))
        assert response.status_code == 302  # same answer as a new address: no enumeration
        assert User.objects.count() == 1
        assert Email.objects.get().template == "account_exists"

    def test_signing_up_again_before_verifying_resends_the_link(self, client):
        client.post(reverse("referrals:signup"), signup_data())
        client.post(reverse("referrals:signup"), signup_data())
        assert User.objects.count() == 1
        assert Email.objects.filter(template="account_verify").count() == 2
        assert type(client)().login(username="new@example.com", password=PASSWORD) is False

    def test_rate_limited_after_many_signups(self, client):
        for n in range(10):
            client.post(reverse("referrals:signup"), signup_data(f"n{n}@example.com"))
        response = client.post(reverse("referrals:signup"), signup_data("late@example.com"))
        assert response.status_code == 429
        assert b"Too many sign-ups" in response.content
        assert not User.objects.filter(email="late@example.com").exists()


class TestVerification:
    def test_get_only_shows_a_button(self, client):
        client.post(reverse("referrals:signup"), signup_data())
        response = client.get(verify_path_from_outbox("new@example.com"))
        assert response.status_code == 200
        assert b"Verify my address" in response.content
        assert not User.objects.get().is_active

    def test_post_activates_signs_in_and_opens_the_dashboard(self, client):
        client.post(reverse("referrals:signup"), signup_data())
        response = client.post(verify_path_from_outbox("new@example.com"), follow=True)
        assert response.redirect_chain[-1][0] == reverse("referrals:dashboard")
        assert response.context["user"].is_authenticated
        user = User.objects.get()
        assert user.is_active and user.referrer_account.email_verified_at

    @pytest.mark.parametrize("token", ["garbage", "eyJ1IjoxfQ:1abc:def"])
    def test_forged_token_is_refused(self, client, token):
        response = client.post(reverse("referrals:verify", args=[token]))
        assert response.status_code == 400
        assert b"expired or is not valid" in response.content

    def test_expired_token_is_refused(self, client, settings):
        client.post(reverse("referrals:signup"), signup_data())
        settings.ACCOUNT_VERIFY_DAYS = -1
        response = client.post(verify_path_from_outbox("new@example.com"))
        assert response.status_code == 400
        assert not User.objects.get().is_active

    def test_a_used_link_does_not_sign_in_again(self, client):
        client.post(reverse("referrals:signup"), signup_data())
        path = verify_path_from_outbox("new@example.com")
        client.post(path)
        stranger = type(client)()
        response = stranger.post(path)
        assert response.status_code == 302 and response.url == reverse("login")
        assert "_auth_user_id" not in stranger.session

    def test_a_later_signup_makes_earlier_links_stale_and_its_password_wins(self, client):
        """Someone signing up with another person's address first must not end up holding the
        password of the account that person verifies."""
        client.post(
            reverse("referrals:signup"),
            signup_data(password1="squatter-pass-123", password2="squatter-pass-123"),
        )
        squatter_link = verify_path_from_outbox("new@example.com")
        Email.objects.all().delete()
        client.post(reverse("referrals:signup"), signup_data())
        owner_link = verify_path_from_outbox("new@example.com")
        assert type(client)().post(squatter_link).status_code == 400
        assert type(client)().post(owner_link).status_code == 302
        assert type(client)().login(username="new@example.com", password=PASSWORD)
        assert not type(client)().login(username="new@example.com", password="squatter-pass-123")

    def test_token_for_a_changed_address_is_stale(self, client):
        client.post(reverse("referrals:signup"), signup_data())
        path = verify_path_from_outbox("new@example.com")
        User.objects.update(email="changed@example.com")
        assert client.post(path).status_code == 400

    def test_referred_friend_earns_the_referrer_points_on_verification(self, client):
        referrer = AccountFactory(code="FRIENDLY", user__email="ref@example.com")
        client.get(reverse("referrals:short_link", args=["friendly"]))
        client.post(reverse("referrals:signup"), signup_data("friend@example.com"))
        assert ReferrerAccount.objects.get(pk=referrer.pk).balance == 0
        client.post(verify_path_from_outbox("friend@example.com"))
        client.post(verify_path_from_outbox("friend@example.com"))  # a second click
        referrer.refresh_from_db()
        assert referrer.balance == 100
        referral = Referral.objects.get()
        assert (referral.email, referral.source, referral.referred_user.email) == (
            "friend@example.com",
            "account",
            "friend@example.com",
        )

    def test_verification_in_another_browser_still_credits_the_referrer(self, client):
        referrer = AccountFactory(code="FRIENDLY")
        client.get("/?ref=friendly")
        client.post(reverse("referrals:signup"), signup_data("friend@example.com"))
        other_browser = type(client)()
        other_browser.post(verify_path_from_outbox("friend@example.com"))
        referrer.refresh_from_db()
        assert referrer.balance == 100


class TestShortLink:
    def test_remembers_the_code_and_when_it_was_seen(self, client):
        AccountFactory(code="ABCD2345")
        response = client.get("/r/abcd2345/")
        assert response.status_code == 302 and response.url == "/"
        attribution = client.session["attribution"]
        assert attribution["ref"] == "ABCD2345"
        assert attribution["ref_seen_at"]

    def test_unknown_code_is_not_remembered(self, client):
        client.get("/r/NOSUCHCODE/")
        assert "attribution" not in client.session

    def test_first_code_wins(self, client):
        AccountFactory(code="FIRST234")
        AccountFactory(code="SECOND23")
        client.get("/r/FIRST234/")
        client.get("/r/SECOND23/")
        assert client.session["attribution"]["ref"] == "FIRST234"

    @pytest.mark.parametrize(
        ("target", "expected"),
        [("/news/", "/news/"), ("https://evil.example/", "/"), ("//evil.example", "/")],
    )
    def test_next_must_stay_on_the_site(self, client, target, expected):
        AccountFactory(code="ABCD2345")
        response = client.get("/r/ABCD2345/", {"next": target})
        assert response.url == expected


class TestSignIn:
    def test_email_in_any_case_signs_in_and_lands_on_the_dashboard(self, client):
        AccountFactory(user__email="ann@example.com")
        response = client.post(
            reverse("login"),
            {"username": "  ANN@Example.com ", "password": "correct horse battery"},
        )
        assert response.status_code == 302
        assert response.url == reverse("referrals:dashboard")

    def test_wrong_password_is_a_plain_error(self, client):
        AccountFactory(user__email="ann@example.com")
        response = client.post(reverse("login"), {"username": "ann@example.com", "password": "x"})
        assert response.status_code == 200
        assert b"do not match an account" in response.content
        assert b'value="ann@example.com"' in response.content

    def test_unverified_account_cannot_sign_in(self, client):
        client.post(reverse("referrals:signup"), signup_data("new@example.com"))
        response = client.post(
            reverse("login"), {"username": "new@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session


class TestPasswordReset:
    def test_reset_mail_goes_through_the_outbox_and_its_link_works(
        self, client, mailoutbox, django_capture_on_commit_callbacks
    ):
        AccountFactory(user__email="ann@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("password_reset"), {"email": "ann@example.com"})
        assert response.status_code == 302
        email = Email.objects.get(template="account_password_reset")
        assert email.to == "ann@example.com"
        assert len(mailoutbox) == 1
        link = re.search(r"http://[^/\s]+(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)
        form_page = client.get(link, follow=True)
        assert b"Choose a new password" in form_page.content
        set_url = form_page.redirect_chain[-1][0]
        done = client.post(
            set_url,
            {"new_password1": "another-long-phrase", "new_password2": "another-long-phrase"},
        )
        assert done.status_code == 302
        assert client.login(username="ann@example.com", password="another-long-phrase")

    def test_unknown_address_gets_the_same_answer_and_no_mail(self, client):
        response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
        assert response.status_code == 302
        assert not Email.objects.exists()

    def test_change_password_page_renders_for_a_signed_in_user(self, client):
        account = AccountFactory()
        client.force_login(account.user)
        assert client.get(reverse("password_change")).status_code == 200


def test_verification_token_is_signed_with_its_own_salt(db):
    user = UserFactory(email="x@example.com")
    token = accounts.verification_token(user)
    with pytest.raises(signing.BadSignature):
        signing.loads(token)  # the default salt must not accept it
    assert accounts.verification_user(token) == user
