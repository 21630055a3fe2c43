"""``manage.py rebuild_rollups``: count the daily activity and advance rollups again from their rows."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from reports import rollups


class Command(BaseCommand):
    help = (
        "Count the daily rollups of activities and stage advances again from the activities and "
        "transitions, in TIME_ZONE (PostgreSQL only; migrate does this itself when TIME_ZONE "
        "changed). The triggers keep them exact otherwise; this mends them after a load that "
        "turned the triggers off."
    )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "The rollups are kept on PostgreSQL only; SQLite reports count live."
            )
        if not rollups.installed():
            raise CommandError("The rollups are not installed: run manage.py migrate first.")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for table, name in rollups.TRIGGER_NAMES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")
        rollups.rebuild()
        self.stdout.write(
            f"Rollups counted in {settings.TIME_ZONE} in {time.perf_counter() - started:.1f} s."
        )
