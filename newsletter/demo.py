"""Demo newsletter content (for `manage.py seed_demo`): a draft issue featuring the latest articles
and a few subscribers in each state. Safe to run again: it only adds what is missing."""

from django.utils import timezone

from . import services
from .forms import CONSENT_TEXT
from .models import Issue, Subscriber

DEMO_SUBSCRIBERS = [
    ("grace@example.com", "Grace", Subscriber.Status.CONFIRMED, Subscriber.Source.ARTICLE),
    ("alan@example.com", "Alan", Subscriber.Status.CONFIRMED, Subscriber.Source.FOOTER),
    ("katherine@example.com", "Katherine", Subscriber.Status.PENDING, Subscriber.Source.PAGE),
    ("edsger@example.com", "", Subscriber.Status.UNSUBSCRIBED, Subscriber.Source.FOOTER),
]

DEMO_ISSUE_BODY = """## What's new this month

Three new **cloud** courses start in January, and our devices for learners now ship with
the lab images pre-installed.

- Cloud fundamentals, evenings and weekends
- Kubernetes for developers
- Security for cloud teams

Reply to this e-mail with any question: a person reads every one.
"""


def seed_newsletter(now=None):
    now = now or timezone.now()
    created = 0
    for email, first_name, status, source in DEMO_SUBSCRIBERS:
        subscriber, made = Subscriber.objects.get_or_create(
            email=email,
            defaults={
                "first_name": first_name,
                "status": status,
                "source": source,
                "consent_text": CONSENT_TEXT,
                "token_nonce": services.new_nonce(),
                "confirmed_at": now if status != Subscriber.Status.PENDING else None,
                "unsubscribed_at": now if status == Subscriber.Status.UNSUBSCRIBED else None,
            },
        )
        created += made
        if made and subscriber.confirmed_at:
            services.code_issue(subscriber=subscriber, now=now)
    issue, made = Issue.objects.get_or_create(
        subject="December at Skilldacity: new cloud courses", defaults={"body": DEMO_ISSUE_BODY}
    )
    if made:
        articles = Issue.featured_articles.field.related_model.objects
        issue.featured_articles.set(articles.published()[:3])
    return created + made
