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
