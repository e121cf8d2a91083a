"""State changes for articles that are more than saving one form (the admin saves the rest)."""

from django.db import transaction
from django.utils import timezone

from .models import Article
from .purges import purge_bulk_change
from .signals import invalidate_public_pages


@transaction.atomic
def article_publish(*, articles, now=None):
    """Publish the given drafts. One with a publication time keeps it (a future time schedules
    it); one without goes live now.

    Returns how many changed.
    """
    now = now or timezone.now()
    drafts = articles.exclude(status=Article.Status.PUBLISHED)
    without_time = drafts.filter(published_at__isnull=True).update(
        status=Article.Status.PUBLISHED, published_at=now, updated_at=now
    )
    with_time = drafts.update(status=Article.Status.PUBLISHED, updated_at=now)
    invalidate_public_pages()
    purge_bulk_change(without_time + with_time, "published")
    return without_time + with_time


@transaction.atomic
def article_unpublish(*, articles, now=None):
    """Take the given articles back to draft (their address then answers 404 to the public)."""
    changed = articles.filter(status=Article.Status.PUBLISHED).update(
        status=Article.Status.DRAFT, updated_at=now or timezone.now()
    )
    invalidate_public_pages()
    purge_bulk_change(changed, "unpublished")
    return changed
