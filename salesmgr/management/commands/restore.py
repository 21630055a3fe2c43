"""``manage.py restore FILE --yes``: put a ``manage.py backup`` archive back, replacing the database."""

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.backups import BackupError, restore, target


class Command(BaseCommand):
    help = (
        "Restore a 'manage.py backup' archive into the database named by DATABASE_URL, replacing "
        "what it holds (the database is created if it does not exist). Stop the web processes, "
        "workers and beat first. Refuses to run without --yes."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="An archive written by 'manage.py backup'.")
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Confirm: the database's current contents are replaced.",
        )
        parser.add_argument(
            "--recreate",
            action="store_true",
            help="Drop and create the database before restoring, so nothing outside the archive is left "
            "(needs every other connection to it closed).",
        )

    def handle(self, *args, **options):
        try:
            target()  # SQLite is refused before anything else
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        if not options["yes"]:
            raise CommandError(
                "Restoring replaces everything in the database named by DATABASE_URL. "
                "Run again with --yes to go ahead."
            )
        try:
            said = restore(source=options["file"], recreate=options["recreate"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        # The restored database holds the audit log as it was at the dump: the restore itself is
        # recorded in it, with the operating-system user who ran it (there is no signed-in person).
        connection.close()
        audit_record(
            AuditKind.RESTORE,
            file=str(options["file"]),
            database=connection.settings_dict["NAME"],
            os_user=getpass.getuser(),
        )
        self.stdout.write(said)
