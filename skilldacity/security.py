"""Throttle repeated failed sign-ins to the admin and the account login.

Failures are counted in the cache (Redis in production, so every web process shares the count)
per client IP and per username, with django-ratelimit's fixed windows. Once either count reaches
the limit (LOGIN_THROTTLE_RATE, default "5/15m"), further sign-in posts from that IP or for that
username get a 429 page saying to try again later, before the password is even checked, so
guessing stops being useful. Successful sign-ins are never counted.

Why not django-axes: it is the ecosystem's lockout library and the right choice when staff need an
audit trail of attempts and an admin screen to unlock people. Here the requirement is a throttle,
not a record: axes would add an app with migrations, an authentication backend and a middleware,
while the cache counters below reuse django-ratelimit (already a dependency for the public forms)
and expire on their own.
"""

import contextlib
import logging

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.http import HttpResponse
from django.template import engines
from django.urls import NoReverseMatch, reverse
from django_ratelimit.core import get_usage

from skilldacity.clientip import client_ip, rate_limit_key

logger = logging.getLogger(__name__)

MAX_USERNAME_LENGTH = 150

THROTTLED_PAGE = """{% extends "base.html" %}
{% block title %}Too many sign-in attempts | {{ SITE_NAME }}{% endblock %}
{% block content %}
<div class="container py-5"><div class="row"><div class="col-lg-7">
  <h1>Too many sign-in attempts</h1>
  <p class="lead">We have paused sign-ins from here after several wrong passwords.
  Please try again in {{ minutes }} minute{{ minutes|pluralize }}.</p>
  <p>Forgotten your password? <a href="{% url 'password_reset' %}">Reset it</a>.</p>
</div></div></div>
{% endblock %}
"""


def throttle_rate():
    return settings.LOGIN_THROTTLE_RATE


def login_paths():
    paths = set()
    for name in ("admin:login", "login"):
        with contextlib.suppress(NoReverseMatch):
            paths.add(reverse(name))
    return paths


def _username(value):
    return str(value or "").strip().lower()[:MAX_USERNAME_LENGTH]


def _usages(request, username, increment):
    """Counters for this IP and this username; a username-less post counts against the IP only."""
    rate = throttle_rate()
    usages = [
        get_usage(
            request,
            group="login-failures-ip",
            key=rate_limit_key,
            rate=rate,
            increment=increment,
        )
    ]
    if username:
        usages.append(
            get_usage(
                request,
                group="login-failures-user",
                key=lambda group, req: username,
                rate=rate,
                increment=increment,
            )
        )
    return [usage for usage in usages if usage is not None]


def seconds_locked(request, username):
    """0 when sign-in may proceed, else how long until the fullest counter's window ends.

    A cache outage fails open: staff must still reach the admin during an incident, and the
    password check itself still stands.
    """
    try:
        usages = _usages(request, username, increment=False)
    except Exception:  # noqa: BLE001 - see docstring
        logger.warning("Login throttle unavailable (cache error); allowing the attempt")
        return 0
    locked = [usage["time_left"] for usage in usages if usage["count"] >= usage["limit"]]
    return max(locked, default=0)


@receiver(user_login_failed, dispatch_uid="skilldacity.security.count_login_failure")
def count_login_failure(sender, credentials, request=None, **kwargs):
    if request is None:
        return
    try:
        _usages(request, _username(credentials.get("username")), increment=True)
    except Exception:  # noqa: BLE001 - counting must never break the sign-in page
        logger.warning("Login throttle could not count a failure (cache error)")


def throttled_response(request, seconds):
    minutes = max(1, -(-int(seconds) // 60))
    template = engines["django"].from_string(THROTTLED_PAGE)
    response = HttpResponse(
        template.render({"minutes": minutes}, request), status=429, content_type="text/html"
    )
    response["Retry-After"] = str(int(seconds))
    return response


class LoginThrottleMiddleware:
    """Refuse sign-in posts from an IP or for a username with too many recent failures."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path in login_paths():
            username = _username(request.POST.get("username"))
            seconds = seconds_locked(request, username)
            if seconds:
                logger.warning(
                    "Sign-in throttled for ip=%s username=%r", client_ip(request), username
                )
                return throttled_response(request, seconds)
        return self.get_response(request)
