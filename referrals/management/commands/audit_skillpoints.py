import sys

from django.core.management.base import BaseCommand, CommandError

from referrals.selectors import ledger_drift


class Command(BaseCommand):
    help = (
        "Check that every SkillPoints account's cached balance equals the sum of its ledger "
        "entries. Lists each account that drifted and exits non-zero if any did."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--quiet", action="store_true", help="No progress lines.")

    def handle(self, *args, batch_size, quiet, **options):
        def progress(done, total):
            if not quiet:
                sys.stderr.write(f"\rchecked {done}/{total} accounts")
                sys.stderr.flush()

        drifted = 0
        for account_id, cached, entries_total in ledger_drift(
            batch_size=batch_size, progress=progress
        ):
            drifted += 1
            self.stdout.write(
                f"DRIFT account {account_id}: cached balance {cached}, entries sum to "
                f"{entries_total} (difference {cached - entries_total:+d})"
            )
        if not quiet:
            sys.stderr.write("\n")
        if drifted:
            raise CommandError(f"{drifted} account(s) drifted from their ledger.")
        self.stdout.write(self.style.SUCCESS("OK: every cached balance equals its ledger."))
