from django.core.management.base import BaseCommand, CommandError

from insights import rollups


class Command(BaseCommand):
    help = (
        "Check the dashboard's daily lead counts against a direct count over the leads; "
        "--rebuild recomputes them (after loading leads with raw SQL or changing TIME_ZONE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true")

    def handle(self, *args, rebuild=False, **options):
        if rebuild:
            rows = rollups.rebuild()
            self.stdout.write(f"Rebuilt: {rows} rows of daily lead counts.")
            return
        differences = rollups.check()
        for key, (stored, counted) in sorted(differences.items(), key=str)[:20]:
            self.stdout.write(f"{key}: stored {stored}, counted {counted}")
        if differences:
            raise CommandError(
                f"{len(differences)} daily lead counts differ from the leads; run with --rebuild."
            )
        self.stdout.write("The daily lead counts match the leads.")
