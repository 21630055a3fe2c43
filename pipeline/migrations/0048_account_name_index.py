"""Deleted accounts by name: with ``account_live_name_idx`` every account's name can be walked in
order, which the deals list sorted by account does for a large list (``deal_ids_by_account``)
instead of sorting every account's name. Partial, so that the accounts list, which reads live
accounts only, has no reason to prefer it to its own index."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0047_lost_moves_from_the_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                fields=["name", "id"],
                condition=models.Q(deleted_at__isnull=False),
                name="account_deleted_name_idx",
            ),
        ),
    ]
