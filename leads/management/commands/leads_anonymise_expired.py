import sys

from django.core.management.base import BaseCommand
from django.utils import timezone

from leads.models import Lead
from leads.services import leads_anonymise_expired, retention_period


class Command(BaseCommand):
    help = (
        "Anonymise leads older than LEADS_RETENTION_DAYS (the daily Celery task does the same). "
        "Shows progress; safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the leads that would be anonymised."
        )
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, dry_run, batch_size, **options):
        cutoff = timezone.now() - retention_period()
        if dry_run:
            count = Lead.objects.filter(created_at__lt=cutoff, anonymised_at__isnull=True).count()
            self.stdout.write(
                f"{count} lead(s) received before {cutoff:%Y-%m-%d} would be anonymised"
            )
            return

        def progress(done, total):
            sys.stderr.write(f"\ranonymised {done}/{total} ({done * 100 // total}%)")
            sys.stderr.flush()

        done = leads_anonymise_expired(batch_size=batch_size, progress=progress)
        if done:
            sys.stderr.write("\n")
        self.stdout.write(self.style.SUCCESS(f"{done} lead(s) anonymised"))
