from django.core.management.base import BaseCommand

from skilldacity.quarantine.services import quarantine_purge, retention_period


class Command(BaseCommand):
    help = "Delete quarantined spam posts older than QUARANTINE_RETENTION_DAYS."

    def handle(self, *args, **options):
        deleted = quarantine_purge()
        days = retention_period().days
        self.stdout.write(f"Deleted {deleted} quarantined post(s) older than {days} days.")
