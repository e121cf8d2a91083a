import time

import pytest
from django.urls import reverse

from newsletter.models import Subscriber
from skilldacity.spam import form_started_token

from .conftest import make_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def test_newsletter_sign_up_from_an_article_records_the_article(client, known_funnel):
    article = known_funnel
    page = client.get(article.get_absolute_url()).content.decode()
    assert f'name="article" value="{article.pk}"' in page
    client.post(
        reverse("newsletter:signup"),
        {
            "email": "reader@example.com",
            "consent": "on",
            "source": "article",
            "article": str(article.pk),
            "form_started": form_started_token(now=time.time() - 10),
        },
    )
    assert Subscriber.objects.get(email="reader@example.com").article == article


def test_a_bogus_article_reference_is_dropped_not_an_error(client, db):
    response = client.post(
        reverse("newsletter:signup"),
        {
            "email": "reader@example.com",
            "consent": "on",
            "source": "article",
            "article": "999999999",
            "form_started": form_started_token(now=time.time() - 10),
        },
    )
    assert response.status_code == 302
    assert Subscriber.objects.get(email="reader@example.com").article is None


def test_article_admin_shows_what_the_article_brought_in(staff_client, known_funnel):
    article = known_funnel
    make_lead(kind="quote", article=article, status="spam")  # spam is not counted
    Subscriber.objects.create(
        email="a@example.com", article=article, confirmed_at=article.created_at
    )
    Subscriber.objects.create(email="b@example.com", article=article)
    html = staff_client.get(reverse("admin:articles_article_change", args=[article.pk])).content
    html = html.decode()
    assert "What this article brought in" in html
    assert "<td>2</td><td>1</td><td>1</td><td>2 (1)</td>" in html
    leads_link = reverse("admin:leads_lead_changelist") + f"?article__id__exact={article.pk}"
    assert leads_link in html
    listing = staff_client.get(leads_link)
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 3  # the list shows the spam one too
