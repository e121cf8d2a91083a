"""Which edge cache surrogate keys an article change makes stale (see skilldacity/edgecache).

Simple and correct over clever: a live article's title, address, summary, picture, reading time,
category, tags, author or publication state shows on the lists, the feeds, the sitemaps and in
the Recent Articles sidebar of other article pages, so any such change purges `site` (every public
page). Only an edit that changes none of those (the body, keeping the reading time) purges the
article's own page plus the feeds and sitemaps (their updated dates). Drafts and scheduled articles
purge nothing: nobody can see them; when a scheduled article goes live, `purge_went_live` (run by
beat) purges `site`.
"""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from skilldacity.edgecache.models import Watermark
from skilldacity.edgecache.services import enabled, purge_enqueue

from .models import Article, Author, Category, Tag

LISTED_FIELDS = (
    "title",
    "slug",
    "summary",
    "status",
    "published_at",
    "category_id",
    "author_id",
    "hero_image",
    "hero_image_alt",
    "reading_minutes",
)
SITE = {"site"}


def _state(article):
    return {name: getattr(article, name) for name in LISTED_FIELDS}


def _live(state, now):
    return (
        state["status"] == Article.Status.PUBLISHED
        and state["published_at"] is not None
        and state["published_at"] <= now
    )


def article_keys(pk, before, after, now=None):
    """Keys to purge when an article goes from state `before` to `after` (None: absent)."""
    now = now or timezone.now()
    was_live = before is not None and _live(before, now)
    is_live = after is not None and _live(after, now)
    if not (was_live or is_live):
        return set()
    if was_live and is_live and before == after:
        return {f"article-{pk}", "feed", "sitemap"}
    return SITE


@receiver(pre_save, sender=Article)
def _remember_state(sender, instance, raw=False, **kwargs):
    if raw or not enabled() or instance.pk is None:
        return
    old = Article.objects.filter(pk=instance.pk).first()
    instance._edge_before = _state(old) if old else None


@receiver(post_save, sender=Article)
def _article_saved(sender, instance, raw=False, **kwargs):
    if raw or not enabled():
        return
    keys = article_keys(instance.pk, getattr(instance, "_edge_before", None), _state(instance))
    purge_enqueue(keys=keys, reason=f"article {instance.pk} saved")


@receiver(post_delete, sender=Article)
def _article_deleted(sender, instance, **kwargs):
    if enabled():
        keys = article_keys(instance.pk, _state(instance), None)
        purge_enqueue(keys=keys, reason=f"article {instance.pk} deleted")


@receiver(m2m_changed, sender=Article.tags.through)
def _article_tags_changed(sender, instance, action, reverse, **kwargs):
    if action not in {"post_add", "post_remove", "post_clear"} or not enabled():
        return
    if reverse or _live(_state(instance), timezone.now()):
        purge_enqueue(keys=SITE, reason=f"tags of {instance} changed")


@receiver(post_save, sender=Category)
@receiver(post_delete, sender=Category)
@receiver(post_save, sender=Tag)
@receiver(post_delete, sender=Tag)
@receiver(post_save, sender=Author)
@receiver(post_delete, sender=Author)
def _shown_on_pages_changed(sender, instance, raw=False, **kwargs):
    if not raw and enabled():
        purge_enqueue(keys=SITE, reason=f"{sender._meta.verbose_name} {instance.pk} changed")


def purge_bulk_change(count, what):
    """For bulk publish/unpublish (queryset updates send no signals)."""
    if count:
        purge_enqueue(keys=SITE, reason=f"{count} article(s) {what}")


def purge_went_live(now=None):
    """Purge `site` if a scheduled article went live since the last run. Returns the ids found.

    A watermark row remembers up to when the last run looked, so nothing is missed however late
    beat runs, and nothing is purged twice (the row is locked while the check runs)."""
    if not enabled():
        return []
    now = now or timezone.now()
    with transaction.atomic():
        mark, created = Watermark.objects.select_for_update().get_or_create(
            name="articles-went-live", defaults={"at": now}
        )
        if created:
            return []
        went_live = list(
            Article.objects.published(now)
            .filter(published_at__gt=mark.at)
            .values_list("pk", flat=True)
        )
        if went_live:
            ids = ", ".join(map(str, went_live[:20]))
            purge_enqueue(keys=SITE, reason=f"scheduled article(s) went live: {ids}")
        mark.at = now
        mark.save(update_fields=["at"])
    return went_live
