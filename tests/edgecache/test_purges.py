"""Purge on change: staff's edits reach the edge caches through the outbox, whatever they answer."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from articles.models import Article
from articles.purges import purge_went_live
from articles.services import article_publish, article_unpublish
from skilldacity.edgecache.models import Purge
from skilldacity.edgecache.services import purge_sweep
from tests.articles.factories import ArticleFactory, CategoryFactory, TagFactory

pytestmark = pytest.mark.django_db


def tags_purged(edge):
    return [sorted(request["json"]["tags"]) for request in edge.requests]


def forget_setup(edge):
    """Drop what creating the test's objects recorded, so the test sees only its own change."""
    Purge.objects.all().delete()
    edge.requests.clear()


def save(article, capture, **changes):
    for name, value in changes.items():
        setattr(article, name, value)
    with capture(execute=True):
        article.save()


def test_nothing_is_recorded_without_backends(settings, django_capture_on_commit_callbacks):
    settings.EDGE_CACHE_BACKENDS = {}
    with django_capture_on_commit_callbacks(execute=True):
        ArticleFactory()
    assert not Purge.objects.exists()


def test_publishing_purges_every_public_page_on_cloudflare(
    cloudflare, django_capture_on_commit_callbacks
):
    draft = ArticleFactory(status=Article.Status.DRAFT, published_at=None)
    assert cloudflare.requests == []  # a draft is on no public page
    save(draft, django_capture_on_commit_callbacks, status=Article.Status.PUBLISHED)
    [request] = cloudflare.requests
    assert request["method"] == "POST" and request["path"] == "/client/v4/zones/zone123/purge_cache"
    assert request["headers"]["authorization"] == "Bearer token-abc"
    assert request["json"] == {"tags": ["site"]}
    assert not Purge.objects.exclude(status=Purge.Status.DONE).exists()


def test_body_edit_purges_only_the_article_its_feeds_and_sitemaps(
    cloudflare, django_capture_on_commit_callbacks
):
    article = ArticleFactory()
    forget_setup(cloudflare)
    save(article, django_capture_on_commit_callbacks, body=article.body.replace("More", "Less"))
    assert tags_purged(cloudflare) == [[f"article-{article.pk}", "feed", "sitemap"]]


@pytest.mark.parametrize(
    "change",
    [
        {"title": "A new title"},
        {"slug": "a-new-address"},
        {"summary": "Another summary"},
        {"status": Article.Status.DRAFT},
        {"published_at": timezone.now() + timedelta(days=1)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_change_shown_on_lists_and_sidebars_purges_the_site(
    cloudflare, django_capture_on_commit_callbacks, change
):
    article = ArticleFactory()
    forget_setup(cloudflare)
    save(article, django_capture_on_commit_callbacks, **change)
    assert tags_purged(cloudflare) == [["site"]]


def test_category_tag_and_delete_purge_the_site(cloudflare, django_capture_on_commit_callbacks):
    article = ArticleFactory()
    tag = TagFactory()
    forget_setup(cloudflare)
    with django_capture_on_commit_callbacks(execute=True):
        article.tags.add(tag)
    with django_capture_on_commit_callbacks(execute=True):
        article.category = CategoryFactory()
        article.save()
    with django_capture_on_commit_callbacks(execute=True):
        article.delete()
    assert tags_purged(cloudflare) == [["site"]] * 3


def test_editing_a_draft_or_scheduled_article_purges_nothing(
    cloudflare, django_capture_on_commit_callbacks
):
    draft = ArticleFactory(status=Article.Status.DRAFT, published_at=None)
    scheduled = ArticleFactory(published_at=timezone.now() + timedelta(hours=2))
    forget_setup(cloudflare)
    save(draft, django_capture_on_commit_callbacks, title="Still a draft")
    save(scheduled, django_capture_on_commit_callbacks, title="Still scheduled")
    assert cloudflare.requests == []


def test_bulk_publish_and_unpublish_purge(cloudflare, django_capture_on_commit_callbacks):
    ArticleFactory(status=Article.Status.DRAFT, published_at=None)
    forget_setup(cloudflare)
    with django_capture_on_commit_callbacks(execute=True):
        article_publish(articles=Article.objects.all())
    with django_capture_on_commit_callbacks(execute=True):
        article_unpublish(articles=Article.objects.all())
    assert tags_purged(cloudflare) == [["site"], ["site"]]


def test_a_scheduled_article_is_purged_once_when_it_goes_live(
    cloudflare, django_capture_on_commit_callbacks
):
    now = timezone.now()
    assert purge_went_live(now) == []  # the first run only sets the watermark
    article = ArticleFactory(published_at=now + timedelta(minutes=5))
    forget_setup(cloudflare)
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_went_live(now + timedelta(minutes=4)) == []
        assert purge_went_live(now + timedelta(minutes=6)) == [article.pk]
        assert purge_went_live(now + timedelta(minutes=7)) == []
    assert tags_purged(cloudflare) == [["site"]]


def test_a_cdn_answering_500_fails_no_save_and_the_purge_is_retried(
    cloudflare, admin_client, django_capture_on_commit_callbacks
):
    article = ArticleFactory()
    forget_setup(cloudflare)
    cloudflare.status = 500
    change_url = reverse("admin:articles_article_change", args=[article.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:articles_article_changelist"),
            {"action": "unpublish_selected", "_selected_action": [article.pk]},
        )
    assert response.status_code == 302
    purge = Purge.objects.get()
    assert purge.status == Purge.Status.PENDING and purge.attempts == 1
    assert "Cloudflare answered 500" in purge.last_error
    assert admin_client.get(change_url).status_code == 200

    # Staff see it pending in the admin, with the error, and retry it once the CDN is back.
    changelist = reverse("admin:edgecache_purge_changelist")
    html = admin_client.get(changelist, {"status": "pending"}).content.decode()
    assert "Cloudflare answered 500" in html
    cloudflare.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            changelist, {"action": "retry_now", "_selected_action": [purge.pk]}, follow=True
        )
    assert "1 purge(s) handed out" in response.content.decode()
    purge.refresh_from_db()
    assert purge.status == Purge.Status.DONE and purge.last_error == ""


def test_the_sweep_sends_a_purge_whose_task_was_lost(cloudflare):
    # Recorded, but the process died before its after-commit task reached the broker.
    purge = Purge.objects.create(keys=["site"], queued_at=None)
    assert purge_sweep() == [purge.pk]
    assert tags_purged(cloudflare) == [["site"]]
    purge.refresh_from_db()
    assert purge.status == Purge.Status.DONE


def test_a_purge_that_keeps_failing_is_marked_failed(cloudflare, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    cloudflare.status = 503
    purge = Purge.objects.create(keys=["site"])
    from skilldacity.edgecache.services import purge_send

    assert purge_send(purge_id=purge.pk) == Purge.Status.PENDING
    Purge.objects.filter(pk=purge.pk).update(send_after=timezone.now())
    assert purge_send(purge_id=purge.pk) == Purge.Status.FAILED
    purge.refresh_from_db()
    assert purge.attempts == 2 and "503" in purge.last_error


def test_varnish_gets_one_xkey_purge(fake_edge, settings):
    settings.EDGE_CACHE_BACKENDS = {
        "varnish": {
            "BACKEND": "skilldacity.edgecache.backends.VarnishXkeyBackend",
            "LOCATION": fake_edge.url,
        }
    }
    from skilldacity.edgecache.services import purge_send

    Purge.objects.create(keys=["article-7", "feed"])
    Purge.objects.create(keys=["sitemap"])
    assert purge_send() == Purge.Status.DONE
    [request] = fake_edge.requests
    assert request["method"] == "PURGE"
    assert request["headers"]["xkey-purge"] == "article-7 feed sitemap"


def test_nginx_generation_backend_writes_a_new_generation_and_reloads(settings, tmp_path):
    import os
    import signal

    reloaded = []
    signal.signal(signal.SIGHUP, lambda *args: reloaded.append(True))
    try:
        (tmp_path / "nginx.pid").write_text(str(os.getpid()))
        settings.EDGE_CACHE_BACKENDS = {
            "nginx": {
                "BACKEND": "skilldacity.edgecache.backends.NginxGenerationBackend",
                "GENERATION_FILE": str(tmp_path / "generation.conf"),
                "PID_FILE": str(tmp_path / "nginx.pid"),
            }
        }
        from skilldacity.edgecache.services import purge_send

        Purge.objects.create(keys=["site"])
        assert purge_send() == Purge.Status.DONE
        first = (tmp_path / "generation.conf").read_text()
        Purge.objects.create(keys=["site"])
        assert purge_send() == Purge.Status.DONE
    finally:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    assert first.startswith("set $edge_generation ")
    assert (tmp_path / "generation.conf").read_text() != first
    assert reloaded == [True, True]


def test_surrogate_keys_are_copied_for_cloudflare(rf):
    from django.http import HttpResponse

    from skilldacity.edgecache.middleware import CacheTagMiddleware

    def view(request):
        response = HttpResponse("ok")
        response["Surrogate-Key"] = "site article-3"
        return response

    assert CacheTagMiddleware(view)(rf.get("/"))["Cache-Tag"] == "site,article-3"
