"""Keep derived data current when articles, categories or tags change.

Both the search document and the public page cache are refreshed after commit: before it, other
requests would still read the old rows and could cache them again.
"""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from skilldacity import pagecache

from .models import Article, Author, Category, PreviousSlug, Tag
from .search import refresh_search_vectors


def invalidate_public_pages():
    transaction.on_commit(pagecache.invalidate)


@receiver(post_save, sender=Article)
def article_saved(sender, instance, raw=False, **kwargs):
    if raw:
        return
    article_id = instance.pk
    transaction.on_commit(lambda: refresh_search_vectors(Article.objects.filter(pk=article_id)))
    invalidate_public_pages()


@receiver(post_delete, sender=Article)
@receiver(post_save, sender=Category)
@receiver(post_delete, sender=Category)
@receiver(post_save, sender=Tag)
@receiver(post_delete, sender=Tag)
@receiver(post_save, sender=Author)
@receiver(post_delete, sender=Author)
@receiver(post_save, sender=PreviousSlug)
@receiver(post_delete, sender=PreviousSlug)
def content_changed(sender, raw=False, **kwargs):
    if not raw:
        invalidate_public_pages()


@receiver(m2m_changed, sender=Article.tags.through)
def article_tags_changed(sender, action, **kwargs):
    if action in {"post_add", "post_remove", "post_clear"}:
        invalidate_public_pages()
