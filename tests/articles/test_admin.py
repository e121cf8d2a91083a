"""The staff side: writing, scheduling and publishing articles in the Django admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from articles.models import Article, PreviousSlug

from .factories import ArticleFactory, AuthorFactory, CategoryFactory, TagFactory
from .test_models import png_upload

pytestmark = pytest.mark.django_db

ADD = reverse("admin:articles_article_add")
CHANGELIST = reverse("admin:articles_article_changelist")


def article_form(**overrides):
    category = CategoryFactory()
    data = {
        "title": "Data analyst or data scientist?",
        "slug": "data-analyst-or-data-scientist",
        "summary": "How the two roles differ.",
        "category": category.pk,
        "tags": [TagFactory().pk],
        "author": AuthorFactory().pk,
        "body": "## Analysts\n\nThey explain.\n\n## Scientists\n\nThey predict.",
        "hero_image_alt": "",
        "status": Article.Status.DRAFT,
        "published_at_0": "",
        "published_at_1": "",
        "previous_slugs-TOTAL_FORMS": "0",
        "previous_slugs-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_changelist_shows_state_dates_filters_and_search(admin_client):
    ArticleFactory(title="Live one")
    ArticleFactory(title="Draft one", status=Article.Status.DRAFT)
    ArticleFactory(title="Later one", published_at=timezone.now() + timedelta(days=2))
    html = admin_client.get(CHANGELIST).content.decode()
    for text in ("Live one", "Published", "Draft one", "Draft", "Later one", "Scheduled"):
        assert text in html
    scheduled = admin_client.get(CHANGELIST, {"state": "scheduled"}).content.decode()
    assert "Later one" in scheduled and "Live one" not in scheduled
    assert "Draft one" in admin_client.get(CHANGELIST, {"q": "draft"}).content.decode()


def test_add_form_prefills_slug_from_title_and_explains_the_rules(admin_client):
    html = admin_client.get(ADD).content.decode()
    assert (
        "&quot;id&quot;: &quot;#id_slug&quot;, &quot;name&quot;: &quot;slug&quot;, "
        "&quot;dependency_ids&quot;: [&quot;#id_title&quot;]"
    ) in html
    assert "a future time schedules them" in html
    assert "alt text" in html.lower()


def test_staff_create_a_draft_and_it_renders(admin_client):
    response = admin_client.post(ADD, article_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get(slug="data-analyst-or-data-scientist")
    assert article.state == "Draft" and '<h2 id="analysts">' in article.body_html
    change = admin_client.get(reverse("admin:articles_article_change", args=[article.pk]))
    html = change.content.decode()
    assert 'class="article-body-preview"' in html and "They predict." in html
    assert reverse("articles:preview", args=[article.pk]) in html
    assert "View on site" in html


def test_colliding_slug_gets_a_clear_error_and_nothing_saved(admin_client):
    ArticleFactory(slug="data-analyst-or-data-scientist")
    response = admin_client.post(ADD, article_form())
    assert response.status_code == 200
    assert "Article with this Slug already exists." in response.content.decode()
    assert Article.objects.count() == 1


def test_slug_used_by_an_old_address_is_refused(admin_client):
    moved = ArticleFactory(slug="data-analyst-or-data-scientist")
    moved.slug = "renamed"
    moved.save()
    response = admin_client.post(ADD, article_form())
    assert "used this address before" in response.content.decode()
    assert Article.objects.count() == 1


def test_hero_image_without_alt_text_is_refused(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = admin_client.post(ADD, article_form(hero_image=png_upload()))
    assert "alt text is required" in response.content.decode()
    assert not Article.objects.exists()
    response = admin_client.post(
        ADD, article_form(hero_image=png_upload(), hero_image_alt="A learner with a tablet")
    )
    assert response.status_code == 302
    assert Article.objects.get().hero_image_width == 640


def test_not_an_image_is_refused(admin_client, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    fake = SimpleUploadedFile("x.png", b"<script>alert(1)</script>", content_type="image/png")
    response = admin_client.post(ADD, article_form(hero_image=fake, hero_image_alt="x"))
    assert "Upload a valid image" in response.content.decode()


def test_scheduling_from_the_admin(admin_client):
    when = timezone.localtime() + timedelta(days=3)
    admin_client.post(
        ADD,
        article_form(
            status=Article.Status.PUBLISHED,
            published_at_0=when.strftime("%Y-%m-%d"),
            published_at_1=when.strftime("%H:%M:%S"),
        ),
    )
    assert Article.objects.get().state == "Scheduled"


def test_changing_the_slug_in_the_admin_keeps_the_old_address(admin_client, client):
    article = ArticleFactory(slug="first-name", title="Data analyst or data scientist?")
    data = article_form(slug="second-name", status=Article.Status.PUBLISHED)
    data["published_at_0"] = timezone.localtime(article.published_at).strftime("%Y-%m-%d")
    data["published_at_1"] = timezone.localtime(article.published_at).strftime("%H:%M:%S")
    response = admin_client.post(reverse("admin:articles_article_change", args=[article.pk]), data)
    assert response.status_code == 302
    assert PreviousSlug.objects.get().slug == "first-name"
    assert client.get("/news/first-name/")["Location"] == "/news/second-name/"


def test_bulk_publish_and_unpublish_actions(admin_client):
    draft = ArticleFactory(status=Article.Status.DRAFT, published_at=None)
    live = ArticleFactory()
    admin_client.post(
        CHANGELIST, {"action": "publish_selected", "_selected_action": [draft.pk, live.pk]}
    )
    draft.refresh_from_db()
    assert draft.state == "Published"
    admin_client.post(
        CHANGELIST, {"action": "unpublish_selected", "_selected_action": [draft.pk, live.pk]}
    )
    assert set(Article.objects.values_list("status", flat=True)) == {Article.Status.DRAFT}


@pytest.mark.parametrize("name", ["category", "tag", "author"])
def test_other_admin_pages_load(admin_client, name):
    CategoryFactory(), TagFactory(), AuthorFactory()
    assert admin_client.get(reverse(f"admin:articles_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:articles_{name}_add")).status_code == 200


def test_live_preview_renders_sanitised_markdown_for_staff_only(admin_client, client):
    url = reverse("admin:articles_article_preview_body")
    response = admin_client.post(url, {"body": "## Hello\n\n<script>x()</script>**bold**"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h2 id="hello">Hello</h2>' in html and "<strong>bold</strong>" in html
    assert "<script" not in html
    assert admin_client.get(url).status_code == 405
    anonymous = client.post(url, {"body": "x"})
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    add_page = admin_client.get(ADD).content.decode()
    assert f'data-preview-url="{url}"' in add_page and "js/articles-admin.js" in add_page


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    title=st.text(max_size=260),
    slug=st.text(max_size=220),
    body=st.text(max_size=3000),
    summary=st.text(max_size=600),
)
def test_any_input_in_the_article_form_saves_or_shows_errors(
    admin_client, title, slug, body, summary
):
    """Any Unicode, any size: the admin either saves or explains, never a server error."""
    before = Article.objects.count()
    data = article_form(title=title, slug=slug, body=body, summary=summary)
    response = admin_client.post(ADD, data)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert "Please correct the error" in response.content.decode()
        assert Article.objects.count() == before
    else:
        assert Article.objects.count() == before + 1
