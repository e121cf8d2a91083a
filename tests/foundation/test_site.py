import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from articles.models import Article
from leads.models import Course, DevicePlatform, Lead
from referrals.models import Reward
from skilldacity.outbox.models import Email

ROOT = Path(__file__).resolve().parents[2]
PROD_SECRET = "x7Gq2-prod-like-secret-" + "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"


def run_manage(*args, env_extra):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db
def test_seed_demo_loads_content_and_is_idempotent():
    call_command("seed_demo")
    counts = (Article.objects.count(), Course.objects.count(), Reward.objects.count())
    call_command("seed_demo")
    assert counts == (Article.objects.count(), Course.objects.count(), Reward.objects.count())
    assert counts[0] >= 5 and counts[1] >= 5 and counts[2] >= 4
    assert DevicePlatform.objects.filter(name="Chromebook").exists()


@pytest.mark.django_db
def test_seed_demo_sends_and_queues_no_e_mail(mailoutbox, django_capture_on_commit_callbacks):
    """Its leads go through the real services; with a real SMTP server configured it used to
    e-mail the demo visitors and the staff inbox (8 messages), and queue follow-ups for later."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo")

    assert Lead.objects.count() == 4
    assert mailoutbox == []
    assert Email.objects.count() == 0


@pytest.mark.django_db
def test_seed_demo_generates_bulk_articles_with_progress(capsys):
    call_command("seed_demo", articles=250)
    call_command("seed_demo", articles=250)
    assert Article.objects.filter(slug__startswith="bench-article-").count() == 250
    assert "250/250 (100%)" in capsys.readouterr().err


@pytest.mark.django_db
def test_home_page_shows_demo_articles_and_navigation(client):
    call_command("seed_demo")
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Machine Learning Engineer" in html
    for name in ["articles:list", "leads:quote", "leads:callback", "referrals:landing", "login"]:
        assert f'href="{reverse(name)}"' in html
    assert 'href="#main"' in html and 'id="main"' in html
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in html


@pytest.mark.django_db
def test_custom_404_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "We couldn't find that page" in response.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_custom_500_page(client, monkeypatch):
    from skilldacity import views

    def broken(request):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "home", broken)
    from django.urls import clear_url_caches

    clear_url_caches()
    client.raise_request_exception = False
    import importlib

    import skilldacity.urls

    importlib.reload(skilldacity.urls)
    try:
        response = client.get("/")
    finally:
        monkeypatch.undo()
        importlib.reload(skilldacity.urls)
        clear_url_caches()
    assert response.status_code == 500
    assert "Sorry, something went wrong" in response.content.decode()


@pytest.mark.django_db
def test_robots_txt_points_at_sitemap(client):
    response = client.get("/robots.txt")
    assert response["Content-Type"].startswith("text/plain")
    assert "Sitemap: http://testserver/sitemap.xml" in response.content.decode()
    assert "Disallow: /admin/" in response.content.decode()


def test_security_headers_and_csp_on_responses(client, db):
    response = client.get("/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_production_mode_refuses_to_start_without_secret_key():
    result = run_manage("check", env_extra={"DJANGO_DEBUG": "0", "ALLOWED_HOSTS": "example.com"})
    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_production_mode_refuses_to_start_without_allowed_hosts():
    result = run_manage("check", env_extra={"DJANGO_DEBUG": "0", "SECRET_KEY": PROD_SECRET})
    assert result.returncode != 0
    assert "set ALLOWED_HOSTS" in result.stderr


def test_production_settings_pass_check_deploy():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={
            "DJANGO_DEBUG": "0",
            "SECRET_KEY": PROD_SECRET,
            "ALLOWED_HOSTS": "skilldacity.example",
        },
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_home_page_is_shared_by_anonymous_readers_and_refreshed_on_publish(
    client, django_capture_on_commit_callbacks
):
    """The HTTP cache in front keeps it (purged by its `list` key on publish); the application
    shows the new article at once."""
    call_command("seed_demo")
    response = client.get("/")
    assert response["Cache-Control"].startswith("public,")
    assert set(response["Surrogate-Key"].split()) == {"site", "list"}
    with django_capture_on_commit_callbacks(execute=True):  # the cache is dropped after commit
        Article.objects.create(
            title="Fresh news",
            slug="fresh-news",
            body="x",
            status=Article.Status.PUBLISHED,
            published_at=Article.objects.latest("published_at").published_at,
        )
    assert "Fresh news" in client.get("/").content.decode()


def test_page_cache_lifetime_is_read_from_the_environment():
    """README documents PAGE_CACHE_SECONDS as an environment variable; the settings ignored it."""
    script = "from django.conf import settings; print(settings.PAGE_CACHE_SECONDS)"
    result = run_manage("shell", "-c", script, env_extra={"PAGE_CACHE_SECONDS": "0"})
    assert result.stdout.strip().splitlines()[-1] == "0", result.stderr
