"""Full-text search on PostgreSQL: ranked, stemmed, current after commit, safe with any input."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from articles.models import Article
from tests.articles.factories import ArticleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def titles(client, query, **params):
    response = client.get("/news/", {"q": query, **params})
    assert response.status_code == 200
    html = response.content.decode()
    return [a.title for a in Article.objects.all() if a.title in html], html


def test_title_match_ranks_above_body_match_and_stemming_works(client):
    ArticleFactory(title="Careers in tech", body="Many people learn " + "python " * 3)
    ArticleFactory(title="Learning Python the practical way", body="Start small.")
    ArticleFactory(title="Unrelated", body="Gardening.")
    found, html = titles(client, "learn python")
    assert html.index("Learning Python the practical way") < html.index("Careers in tech")
    assert "Unrelated" not in html


def test_the_search_vector_is_current_after_the_commit(client):
    article = ArticleFactory(title="Kubernetes basics")
    assert Article.objects.filter(search_vector="kubernetes").count() == 1
    article.title = "Terraform basics"
    article.save()
    assert Article.objects.filter(search_vector="terraform").get() == article
    assert not Article.objects.filter(search_vector="kubernetes").exists()
    assert "Terraform basics" in client.get("/news/", {"q": "terraform"}).content.decode()


def test_search_respects_category_and_publication(client):
    live = ArticleFactory(title="Cloud security guide")
    ArticleFactory(title="Cloud security draft", status=Article.Status.DRAFT)
    other = ArticleFactory(title="Cloud costs")
    html = client.get(live.category.get_absolute_url(), {"q": "cloud"}).content.decode()
    assert "Cloud security guide" in html
    assert "Cloud security draft" not in html and other.title not in html


@pytest.mark.parametrize(
    "query",
    ['"unclosed', "a & | ! ( )", "-", "or or or", "\x00null", "'; DROP TABLE x; --", "ü" * 500],
)
def test_query_syntax_garbage_gives_a_normal_page(client, query):
    ArticleFactory()
    assert client.get("/news/", {"q": query}).status_code == 200


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=120))
def test_any_unicode_search_gives_a_normal_page(client, query):
    assert client.get("/news/", {"q": query}).status_code == 200
