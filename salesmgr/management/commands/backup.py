"""``manage.py backup --output FILE``: the whole PostgreSQL database in one pg_dump archive."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from salesmgr.backups import BackupError, backup


class Command(BaseCommand):
    help = (
        "Dump the database named by DATABASE_URL with pg_dump -Fc (compressed, consistent while "
        "the app runs) into a new file. Restore it with 'manage.py restore FILE --yes'."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", "-o", required=True, type=Path, help="The file to write; must not exist."
        )

    def handle(self, *args, **options):
        output = options["output"]
        try:
            size = backup(output=output)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Backed up to {output} ({size:,} bytes).")
