"""Demo course catalogue and device platforms (used by `manage.py seed_demo`)."""

from decimal import Decimal

from django.utils.text import slugify

from .models import Course, DevicePlatform

PLATFORMS = ["Windows", "macOS", "iPad", "Android tablet", "Chromebook"]

COURSES = [
    (
        "Machine Learning Engineering",
        "advanced",
        "1495.00",
        "Take models from notebook to production.",
    ),
    (
        "Data Analysis with Python",
        "beginner",
        "695.00",
        "Clean, explore and present data with pandas.",
    ),
    (
        "Cloud Foundations",
        "beginner",
        "595.00",
        "Core cloud concepts on AWS, Azure and Google Cloud.",
    ),
    (
        "DevOps in Practice",
        "intermediate",
        "1195.00",
        "CI/CD, containers and Kubernetes, hands on.",
    ),
    ("Security Awareness for Teams", "beginner", "195.00", "Spot phishing and protect your data."),
    (
        "Full-Stack Web Development",
        "intermediate",
        "1295.00",
        "Build and ship web apps end to end.",
    ),
]


def seed_catalogue():
    platforms = []
    for position, name in enumerate(PLATFORMS):
        platform, _ = DevicePlatform.objects.get_or_create(
            slug=slugify(name), defaults={"name": name, "position": position}
        )
        platforms.append(platform)
    created = 0
    for title, level, price, summary in COURSES:
        course, was_created = Course.objects.get_or_create(
            slug=slugify(title),
            defaults={
                "title": title,
                "level": level,
                "price_from": Decimal(price),
                "summary": summary,
            },
        )
        if was_created:
            course.platforms.set(platforms)
            created += 1
    return created


DEMO_LEADS = [
    ("Priya Shah", "priya.shah@example.com", "callback", "new", {"call_time": "morning"}),
    ("Tom Becker", "tom.becker@example.com", "callback", "contacted", {"call_time": "evening"}),
    (
        "Helen Ortiz",
        "helen.ortiz@northwind.example",
        "quote",
        "quoted",
        {"organisation": "Northwind Academy", "learners": 30, "delivery": "on_site"},
    ),
    (
        "Marcus Lee",
        "marcus.lee@contoso.example",
        "quote",
        "won",
        {"organisation": "Contoso Health", "learners": 12, "delivery": "online"},
    ),
]
DEMO_PATHS = {
    "new": [],
    "contacted": ["contacted"],
    "quoted": ["contacted", "quoted"],
    "won": ["contacted", "quoted", "won"],
}


def seed_demo_leads():
    """A few leads in different states, so the admin has something to show. Idempotent."""
    from .models import Lead
    from .services import lead_submit, lead_transition

    courses = list(Course.objects.order_by("title")[:2])
    platform = DevicePlatform.objects.order_by("position").first()
    created = 0
    for name, email, kind, status, extra in DEMO_LEADS:
        if Lead.objects.filter(email=email).exists():
            continue
        fields = {"name": name, "email": email, "phone": "+447911123456", "platform": platform}
        if kind == "callback":
            fields["call_timezone"] = "Europe/London"
        lead, _ = lead_submit(
            kind=kind,
            fields={**fields, **extra},
            courses=courses,
            consent_text="Demo data",
            attribution={"utm_source": "demo"},
            source_path="/quote/" if kind == "quote" else "/contact/",
            article=None,
            ip=None,
        )
        for step in DEMO_PATHS[status]:
            lead_transition(lead_id=lead.pk, to_status=step, actor=None)
        created += 1
    return created
