"""Seal every stored webhook secret with the current ``SECRET_KEY``.

Run it after rotating ``SECRET_KEY`` (the old key moved into ``SECRET_KEY_FALLBACKS``), then the
old key can be dropped from the fallbacks. A secret no configured key opens is named and left
as it is: rotate that subscription's secret.
"""

from django.core.management.base import BaseCommand

from pipeline.webhooks.services import webhook_secrets_reseal


class Command(BaseCommand):
    help = "Seal every stored webhook secret with the current SECRET_KEY (after a key rotation)."

    def handle(self, *args, **options):
        resealed, unreadable = webhook_secrets_reseal()
        self.stdout.write(f"Resealed {resealed} webhook secret(s) with the current SECRET_KEY.")
        if unreadable:
            self.stderr.write(
                "Not opened by any configured key (rotate their secrets): " + ", ".join(unreadable)
            )
