import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from articles.models import Article, PreviousSlug

from .factories import ArticleFactory

pytestmark = pytest.mark.django_db


def png_upload(width=640, height=360, name="hero.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 79, 156)).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_changing_the_slug_remembers_the_old_one():
    article = ArticleFactory(slug="old-address")
    article.slug = "new-address"
    article.save()
    article.slug = "newest-address"
    article.save()
    assert set(article.previous_slugs.values_list("slug", flat=True)) == {
        "old-address",
        "new-address",
    }


def test_taking_back_an_old_slug_removes_its_redirect():
    article = ArticleFactory(slug="first")
    article.slug = "second"
    article.save()
    article.slug = "first"
    article.save()
    assert list(article.previous_slugs.values_list("slug", flat=True)) == ["second"]


def test_a_slug_that_redirects_to_another_article_is_refused_in_validation():
    moved = ArticleFactory(slug="was-here")
    moved.slug = "now-here"
    moved.save()
    other = ArticleFactory.build(slug="was-here", category=moved.category, author=moved.author)
    with pytest.raises(ValidationError) as error:
        other.full_clean()
    assert "used this address before" in str(error.value)


def test_hero_image_requires_alt_text_and_records_its_size(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    article = ArticleFactory.build(hero_image=png_upload(800, 450), hero_image_alt="")
    article.category.save()
    article.author.save()
    with pytest.raises(ValidationError) as error:
        article.full_clean()
    assert "alt text is required" in str(error.value)
    article.hero_image_alt = "Two learners at a laptop"
    article.full_clean()
    article.save()
    article.refresh_from_db()
    assert (article.hero_image_width, article.hero_image_height) == (800, 450)


def test_publishing_without_a_time_means_now_and_state_follows_time():
    article = ArticleFactory(status=Article.Status.PUBLISHED, published_at=None)
    assert article.published_at is not None and article.state == "Published"
    assert ArticleFactory(status=Article.Status.DRAFT).state == "Draft"
    future = ArticleFactory(published_at=article.published_at.replace(year=2099))
    assert future.state == "Scheduled"
    assert list(Article.objects.published()) == [article]
    assert list(Article.objects.scheduled()) == [future]


def test_body_is_rendered_and_timed_on_save():
    article = ArticleFactory(body="## A\n\n## B\n\n## C\n\n<script>x()</script>" + " word" * 500)
    assert "<script" not in article.body_html
    assert [item["id"] for item in article.toc] == ["a", "b", "c"]
    assert article.reading_minutes == 3


def test_any_unicode_title_and_long_slug_save(db):
    article = ArticleFactory(title="Ünïcödé 学习 🚀 " * 10, slug="x" * 200)
    assert Article.objects.get(pk=article.pk).title.startswith("Ünïcödé")
    assert PreviousSlug.objects.count() == 0
