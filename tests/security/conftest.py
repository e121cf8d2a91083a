import os
import runpy
from pathlib import Path

import pytest

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "skilldacity" / "settings.py"
PROD_ENV = {
    "DJANGO_DEBUG": "0",
    "SECRET_KEY": "prod-like-" + "k3Jx9-vQ2rT8wZ5nB7mC1fH4gL6pD0sA" * 2,
    "ALLOWED_HOSTS": "testserver,skilldacity.example",
}
# What production mode changes about security; the rest (database, storages) stays the test's.
SECURITY_SETTINGS = (
    "DEBUG",
    "MIDDLEWARE",
    "CONTENT_SECURITY_POLICY",
    "X_FRAME_OPTIONS",
    "LOGIN_THROTTLE_RATE",
)
SECURITY_PREFIXES = ("SECURE_", "SESSION_COOKIE_", "CSRF_COOKIE_")


def evaluate_settings(**extra_env):
    """skilldacity/settings.py evaluated under production's environment (plus `extra_env`)."""
    env = {**PROD_ENV, **extra_env}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return runpy.run_path(str(SETTINGS_FILE), run_name="production_settings")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def production_settings():
    """The security settings production runs with (DJANGO_DEBUG=0), not a hand copy."""
    return {
        key: value
        for key, value in evaluate_settings().items()
        if key in SECURITY_SETTINGS or key.startswith(SECURITY_PREFIXES)
    }


@pytest.fixture
def production_mode(settings):
    """Production's security settings on the test's database: requests must use secure=True."""
    for key, value in production_settings().items():
        setattr(settings, key, value)
    return settings


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hundreds of sign-in posts with hostile input: the real hasher's cost is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
