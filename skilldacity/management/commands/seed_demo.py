import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from articles.demo import seed_articles, seed_bulk_articles
from leads.demo import seed_catalogue, seed_demo_leads
from newsletter.demo import seed_newsletter
from referrals.demo import seed_rewards
from skilldacity.outbox.services import outbox_muted


class Command(BaseCommand):
    help = "Load original demo content. Safe to run again: it only adds what is missing."

    def add_arguments(self, parser):
        parser.add_argument(
            "--articles",
            type=int,
            default=0,
            help="Also generate this many articles (for benchmarks), e.g. --articles 10000.",
        )
        parser.add_argument(
            "--staff-password",
            default="",
            help="Create (or reset) the staff user 'staff' with this password.",
        )

    def handle(self, *args, articles, staff_password, **options):
        # Demo leads go through the real services, which would e-mail their made-up visitors.
        with transaction.atomic(), outbox_muted():
            made = {
                "articles": seed_articles(),
                "newsletter": seed_newsletter(),
                "courses": seed_catalogue(),
                "leads": seed_demo_leads(),
                "rewards": seed_rewards(),
            }
        for name, count in made.items():
            self.stdout.write(f"{name}: {count} created")
        if articles:
            created = seed_bulk_articles(articles, progress=self._progress("generated articles"))
            self.stdout.write(f"\ngenerated articles: {created} created")
        if staff_password:
            user, _ = get_user_model().objects.get_or_create(
                username="staff", defaults={"email": "staff@skilldacity.example"}
            )
            user.is_staff = user.is_superuser = True
            user.set_password(staff_password)
            user.save()
            self.stdout.write("staff user: 'staff' ready")
        self.stdout.write(self.style.SUCCESS("Demo content ready."))

    def _progress(self, label):
        stream = sys.stderr
        last = {"percent": -1}

        def report(done, total):
            percent = done * 100 // total
            if percent != last["percent"]:
                last["percent"] = percent
                stream.write(f"\r{label}: {done}/{total} ({percent}%)")
                stream.flush()

        return report
