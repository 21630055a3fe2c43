"""Seal every stored webhook secret with the current ``SECRET_KEY``.

Run it after rotating ``SECRET_KEY`` (the old key moved into ``SECRET_KEY_FALLBACKS``), then the
old key can be dropped from the fallbacks. A secret no configured key opens is named and left
as it is: rotate that subscription's secret.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from pipeline.models import WebhookSubscription
from salesmgr.sealing import SealedSecretUnreadable, reseal


class Command(BaseCommand):
    help = "Seal every stored webhook secret with the current SECRET_KEY (after a key rotation)."

    def handle(self, *args, **options):
        resealed, unreadable = 0, []
        with transaction.atomic():
            for subscription in WebhookSubscription.objects.select_for_update().only(
                "id", "name", "secret_sealed"
            ):
                try:
                    subscription.secret_sealed = reseal(subscription.secret_sealed)
                except SealedSecretUnreadable:
                    unreadable.append(subscription.name)
                    continue
                subscription.save(update_fields=["secret_sealed"])
                resealed += 1
        self.stdout.write(f"Resealed {resealed} webhook secret(s) with the current SECRET_KEY.")
        if unreadable:
            self.stderr.write(
                "Not opened by any configured key (rotate their secrets): " + ", ".join(unreadable)
            )
