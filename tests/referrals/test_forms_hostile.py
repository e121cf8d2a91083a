"""Whatever a visitor or bot posts, the account forms answer with a page, never a 500."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skilldacity.spam import form_started_token

pytestmark = pytest.mark.django_db
hostile_text = st.text(max_size=300)
hostile_email = st.one_of(hostile_text, st.emails().map(lambda e: e.upper()))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(email=hostile_email, password1=hostile_text, password2=hostile_text)
def test_signup_never_fails(client, email, password1, password2):
    response = client.post(
        reverse("referrals:signup"),
        {
            "email": email,
            "password1": password1,
            "password2": password2,
            "form_started": form_started_token(now=time.time() - 10),
        },
    )
    assert response.status_code in (200, 302, 429)
    if response.status_code == 200:
        assert response.context["form"].errors


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(username=hostile_text, password=hostile_text)
def test_login_never_fails(client, username, password):
    response = client.post(reverse("login"), {"username": username, "password": password})
    # 429: the sign-in throttle (skilldacity.security) after repeated failures from one IP.
    assert response.status_code in (200, 429)
    assert "_auth_user_id" not in client.session


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(email=hostile_text)
def test_password_reset_never_fails(client, email):
    response = client.post(reverse("password_reset"), {"email": email})
    assert response.status_code in (200, 302)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    token=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789:_-", min_size=1, max_size=120
    )
)
def test_verify_never_fails(client, token):
    response = client.post(reverse("referrals:verify", args=[token]))
    assert response.status_code == 400
    assert not get_user_model().objects.filter(is_active=True).exists()
