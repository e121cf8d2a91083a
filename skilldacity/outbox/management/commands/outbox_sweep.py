from django.core.management.base import BaseCommand

from skilldacity.outbox.models import Email
from skilldacity.outbox.services import outbox_sweep


class Command(BaseCommand):
    help = (
        "Hand out every due outbox e-mail that has no live task (what Celery beat runs every "
        "OUTBOX_SWEEP_INTERVAL_SECONDS). Without a broker it sends them here, one batch at a time: "
        "run it from cron on a deployment without Celery."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=500, help="Rows per batch.")
        parser.add_argument(
            "--once", action="store_true", help="Stop after one batch instead of draining."
        )

    def handle(self, *, batch, once, **options):
        total = 0
        while True:
            handed_out = outbox_sweep(limit=batch)
            total += len(handed_out)
            if handed_out:
                self.stdout.write(f"Handed out {len(handed_out)} e-mail(s) ({total} so far)")
            if once or len(handed_out) < batch:
                break
        pending = Email.objects.filter(status=Email.Status.PENDING).count()
        self.stdout.write(self.style.SUCCESS(f"Done: {total} handed out, {pending} still pending."))
