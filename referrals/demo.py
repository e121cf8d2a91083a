"""Demo rewards catalogue (used by `manage.py seed_demo`)."""

from django.utils.text import slugify

from .models import Reward

REWARDS = [
    ("£50 off any course", "course", 500, None, "Points towards any Skilldacity course."),
    ("Security Awareness for Teams seat", "course", 1500, None, "One learner seat."),
    ("Wireless keyboard and mouse", "accessory", 400, 25, "A compact set for study on the go."),
    ("Tablet stylus", "accessory", 300, 40, "Works with iPad and Android tablets."),
    ("USB-C charging cable", "accessory", 100, 100, "A braided 1 m cable for phones and tablets."),
    ("Chromebook for learning", "device", 3000, 5, "A 14-inch Chromebook set up for our courses."),
]


def seed_rewards():
    created = 0
    for name, kind, cost, stock, description in REWARDS:
        _, was_created = Reward.objects.get_or_create(
            slug=slugify(name),
            defaults={
                "name": name,
                "kind": kind,
                "points_cost": cost,
                "stock": stock,
                "description": description,
            },
        )
        created += was_created
    return created
