import pytest

from .factories import ArticleFactory, StaffFactory


@pytest.fixture
def article(db):
    return ArticleFactory()


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    return client


def make_articles(count, **kwargs):
    """`count` live articles, newest first, sharing one category and author."""
    first = ArticleFactory(**kwargs)
    rest = [
        ArticleFactory(category=first.category, author=first.author, **kwargs)
        for _ in range(count - 1)
    ]
    return [first, *rest]
