import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from articles.models import Article

from .conftest import make_articles
from .factories import ArticleFactory, CategoryFactory, StaffFactory, TagFactory

pytestmark = pytest.mark.django_db

LIST = "/news/"


def html_of(response):
    return response.content.decode()


def meta(html, attribute, name):
    found = re.search(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)"', html)
    return found and found.group(1)


# --- list ------------------------------------------------------------------------------------


def test_list_shows_live_articles_newest_first_and_hides_drafts_and_scheduled(client):
    old = ArticleFactory(title="Older piece", published_at=timezone.now() - timedelta(days=2))
    new = ArticleFactory(title="Newer piece")
    ArticleFactory(title="Secret draft", status=Article.Status.DRAFT)
    ArticleFactory(title="Future piece", published_at=timezone.now() + timedelta(days=1))
    html = html_of(client.get(LIST))
    assert html.index(new.title) < html.index(old.title)
    assert "Secret draft" not in html and "Future piece" not in html


def test_list_paginates_with_rel_prev_next_and_canonical(client):
    make_articles(25)
    first, second, third = (client.get(LIST, {"page": n}) for n in (1, 2, 3))
    assert html_of(first).count('class="article-card') == 10
    assert html_of(third).count('class="article-card') == 5
    page2 = html_of(second)
    assert '<link rel="prev" href="http://127.0.0.1:8000/news/">' in page2
    assert '<link rel="next" href="http://127.0.0.1:8000/news/?page=3">' in page2
    assert '<link rel="canonical" href="http://127.0.0.1:8000/news/?page=2">' in page2
    assert 'rel="next"' not in html_of(third)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page=st.text(max_size=30), query=st.text(max_size=300))
def test_garbage_page_numbers_and_searches_give_a_normal_page(client, page, query):
    response = client.get(LIST, {"page": page, "q": query})
    assert response.status_code == 200


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999999999999999999999", "1.5", "%00"])
def test_out_of_range_pages_show_a_real_page(client, page):
    make_articles(3)
    response = client.get(LIST, {"page": page})
    assert response.status_code == 200
    assert html_of(response).count('class="article-card') == 3


def test_category_and_tag_filters(client):
    careers = CategoryFactory(name="Careers", slug="careers")
    python = TagFactory(name="Python", slug="python")
    ArticleFactory(title="In careers", category=careers)
    ArticleFactory(title="Tagged python", tags=[python])
    ArticleFactory(title="Elsewhere")
    category_page = html_of(client.get(reverse("articles:category", args=["careers"])))
    assert "In careers" in category_page and "Elsewhere" not in category_page
    assert reverse("articles:category_feed_rss", args=["careers"]) in category_page
    tag_page = html_of(client.get(reverse("articles:tag", args=["python"])))
    assert "Tagged python" in tag_page and "In careers" not in tag_page
    assert client.get("/news/category/nope/").status_code == 404
    assert client.get("/news/tag/nope/").status_code == 404


def test_search_finds_title_summary_and_body_and_keeps_the_query(
    client, django_capture_on_commit_callbacks
):
    # On PostgreSQL the search document is written after commit.
    with django_capture_on_commit_callbacks(execute=True):
        ArticleFactory(title="Kubernetes for beginners")
        ArticleFactory(title="Other", summary="All about kubernetes clusters")
        ArticleFactory(title="Third", body="Deep in the body: Kubernetes.")
        ArticleFactory(title="Unrelated", body="Nothing here.")
    html = html_of(client.get(LIST, {"q": "kubernetes"}))
    assert html.count('class="article-card') == 3 and "Unrelated" not in html
    assert "3 articles matching “kubernetes”" in html
    assert 'value="kubernetes"' in html
    assert '<meta name="robots" content="noindex, follow">' in html


def test_empty_search_says_so_helpfully(client):
    ArticleFactory()
    html = html_of(client.get(LIST, {"q": "quantum basket weaving"}))
    assert "No articles match “quantum basket weaving”" in html
    assert "browse all articles" in html


def test_search_pagination_keeps_the_query(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_articles(12, title="Python pieces")
    html = html_of(client.get(LIST, {"q": "python"}))
    assert 'href="?q=python&amp;page=2"' in html


# --- detail ----------------------------------------------------------------------------------


def test_article_page_shows_everything_a_reader_needs(client):
    python = TagFactory(name="Python", slug="python")
    article = ArticleFactory(
        title="Machine Learning Engineer: what they do",
        summary="What the job involves.",
        body="## What they do\n\n- Pipelines\n\n## Outlook\n\nGood.\n\n## Salary\n\n£70k.",
        tags=[python],
    )
    related = ArticleFactory(title="Related by tag", tags=[python])
    recent = ArticleFactory(title="Recent but unrelated", category=CategoryFactory())
    html = html_of(client.get(article.get_absolute_url()))
    assert "<title>Machine Learning Engineer: what they do | Skilldacity</title>" in html
    assert '<meta name="description" content="What the job involves.">' in html
    assert article.author.name in html and article.category.name in html
    assert "1 min read" in html
    published = timezone.localtime(article.published_at)
    stamp = published.strftime("%Y-%m-%dT%H:%M:%S%z")  # whole seconds: what vnu accepts
    assert f'<time datetime="{stamp}" itemprop="datePublished">' in html
    assert '<h2 id="what-they-do">What they do</h2>' in html
    assert 'href="#what-they-do"' in html  # table of contents
    assert related.title in html and recent.title in html
    for slot in ("callback", "quote", "newsletter", "referral", "related", "recent"):
        assert f'data-slot="{slot}"' in html


def test_article_metadata_for_sharing_and_search(client):
    article = ArticleFactory(title='Quotes "and" <angles>', summary="Short & sweet.")
    html = html_of(client.get(article.get_absolute_url()))
    url = f"http://127.0.0.1:8000{article.get_absolute_url()}"
    assert f'<link rel="canonical" href="{url}">' in html
    assert meta(html, "property", "og:url") == url
    assert meta(html, "property", "og:title") == "Quotes &quot;and&quot; &lt;angles&gt;"
    assert meta(html, "property", "og:type") == "article"
    assert meta(html, "name", "twitter:card") == "summary_large_image"
    data = json.loads(
        re.search(r'<script type="application/ld\+json">(.*?)</script>', html).group(1)
    )
    assert data["@type"] == "Article" and data["headline"] == 'Quotes "and" <angles>'
    assert data["author"]["name"] == article.author.name
    assert data["mainEntityOfPage"]["@id"] == url
    assert "<angles>" not in html.split('application/ld+json">')[1].split("</script>")[0]


def test_share_links_are_built_from_the_canonical_url(client):
    article = ArticleFactory(title="Share me")
    html = html_of(client.get(article.get_absolute_url()))
    url = f"http://127.0.0.1:8000{article.get_absolute_url()}"
    links = dict(re.findall(r'data-share="(\w+)" href="([^"]+)"', html))
    assert set(links) == {"facebook", "x", "linkedin"}
    facebook = urlsplit(links["facebook"].replace("&amp;", "&"))
    assert facebook.netloc == "www.facebook.com" and parse_qs(facebook.query)["u"] == [url]
    x = parse_qs(urlsplit(links["x"].replace("&amp;", "&")).query)
    assert x["url"] == [url] and x["text"] == ["Share me"]
    linkedin = parse_qs(urlsplit(links["linkedin"].replace("&amp;", "&")).query)
    assert linkedin["url"] == [url]
    assert f'data-copy-link="{url}"' in html
    assert "<script src=" in html and "facebook.net" not in html and "platform.twitter" not in html


def test_hero_image_has_size_and_alt(client, settings, tmp_path):
    from .test_models import png_upload

    settings.MEDIA_ROOT = tmp_path
    article = ArticleFactory(hero_image=png_upload(1200, 630), hero_image_alt="A cohort at work")
    html = html_of(client.get(article.get_absolute_url()))
    assert 'alt="A cohort at work" width="1200" height="630"' in html
    assert meta(html, "property", "og:image").startswith("http://127.0.0.1:8000/media/articles/")
    assert meta(html, "name", "twitter:card") == "summary_large_image"


def test_body_attack_strings_render_as_harmless_on_the_page(client):
    article = ArticleFactory(
        body='<script>alert("owned")</script>\n\n<img src=x onerror=alert(1)>\n\n'
        "[click](javascript:alert(1))"
    )
    body = html_of(client.get(article.get_absolute_url())).split('itemprop="articleBody">')[1]
    body = body.split("</div>")[0]
    assert "<script" not in body and "onerror" not in body and "javascript:" not in body


@pytest.mark.parametrize(
    "state",
    [
        {"status": Article.Status.DRAFT},
        {"published_at": timezone.now() + timedelta(hours=1)},
    ],
)
def test_unpublished_and_scheduled_articles_are_404_for_the_public(client, state):
    article = ArticleFactory(**state)
    assert client.get(article.get_absolute_url()).status_code == 404
    assert client.get("/news/no-such-article/").status_code == 404


def test_changed_slug_redirects_permanently(client):
    article = ArticleFactory(slug="old-slug")
    article.slug = "new-slug"
    article.save()
    response = client.get("/news/old-slug/")
    assert response.status_code == 301 and response["Location"] == "/news/new-slug/"
    assert client.get("/news/new-slug/").status_code == 200


# --- staff preview ---------------------------------------------------------------------------


def test_preview_only_for_staff(client):
    draft = ArticleFactory(title="Work in progress", status=Article.Status.DRAFT)
    url = reverse("articles:preview", args=[draft.pk])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    reader = get_user_model().objects.create_user("reader", password="pw-123456789")
    client.force_login(reader)
    assert client.get(url).status_code == 404
    staff_client = Client()
    staff_client.force_login(StaffFactory())
    response = staff_client.get(url)
    html = html_of(response)
    assert response.status_code == 200 and "Work in progress" in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "this article is draft" in html
    assert "no-cache" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_staff_following_view_on_site_to_a_draft_land_on_its_preview(staff_client):
    draft = ArticleFactory(status=Article.Status.DRAFT)
    response = staff_client.get(draft.get_absolute_url())
    assert response.status_code == 302
    assert response["Location"] == reverse("articles:preview", args=[draft.pk])


def test_related_articles_prefer_shared_tags_then_category(client):
    python, ml, cloud = TagFactory(), TagFactory(), TagFactory()
    article = ArticleFactory(tags=[python, ml])
    both = ArticleFactory(title="Shares both tags", tags=[python, ml], category=CategoryFactory())
    one = ArticleFactory(title="Shares one tag", tags=[ml], category=CategoryFactory())
    same_category = ArticleFactory(title="Same category only", category=article.category)
    ArticleFactory(title="Nothing in common", tags=[cloud], category=CategoryFactory())
    html = html_of(client.get(article.get_absolute_url()))
    related = html.split('data-slot="related"')[1].split("</section>")[0]
    assert related.index(both.title) < related.index(one.title) < related.index(same_category.title)
    assert "Nothing in common" not in related and article.title not in related


def test_recent_articles_leave_out_the_related_ones(client):
    tag = TagFactory()
    article = ArticleFactory(tags=[tag])
    related = ArticleFactory(title="Related and recent", tags=[tag], category=CategoryFactory())
    other = ArticleFactory(title="Only recent", category=CategoryFactory())
    html = html_of(client.get(article.get_absolute_url()))
    related_list = html.split('data-slot="related"')[1].split("</section>")[0]
    recent_list = html.split('data-slot="recent"')[1].split("</section>")[0]
    assert related.title in related_list and related.title not in recent_list
    assert other.title in recent_list and article.title not in recent_list
