from django.core.management.base import BaseCommand

from leads.services import leads_remind_overdue


class Command(BaseCommand):
    help = (
        "E-mail the assignee (or the staff inbox) about leads not contacted within one working "
        "day, at most once a day per lead (Celery beat runs this every 30 minutes)."
    )

    def handle(self, *args, **options):
        queued = leads_remind_overdue()
        self.stdout.write(self.style.SUCCESS(f"{queued} overdue reminder(s) queued"))
