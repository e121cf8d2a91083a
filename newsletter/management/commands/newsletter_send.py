import sys

from django.core.management.base import BaseCommand, CommandError

from newsletter import services
from newsletter.models import Issue


class Command(BaseCommand):
    help = (
        "Queue an issue's e-mails for every confirmed subscriber, showing progress. Running it "
        "again on a half-queued issue resumes; nobody gets a second copy."
    )

    def add_arguments(self, parser):
        parser.add_argument("issue_id", type=int)

    def handle(self, *args, issue_id, **options):
        if not Issue.objects.filter(pk=issue_id).exists():
            raise CommandError(f"No issue {issue_id}.")
        issue = services.issue_start_send(issue_id=issue_id)
        total = issue.recipients_total
        done = {"queued": 0}

        def progress(queued):
            done["queued"] += queued
            sys.stderr.write(f"\rqueued {done['queued']} / {total} (this run)")
            sys.stderr.flush()

        services.issue_enqueue(issue_id=issue_id, seconds=float("inf"), progress=progress)
        sys.stderr.write("\n")
        issue.refresh_from_db()
        figures = services.issue_progress(issue)
        self.stdout.write(
            self.style.SUCCESS(
                f"Issue {issue_id}: {figures['queued']} e-mails queued, {figures['sent']} sent."
            )
        )
