"""Every account by name, deleted ones too: the deals list sorted by account walks the names in
order for a large list (``deal_ids_by_account``) instead of sorting every account's name."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0047_lost_moves_from_the_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="account",
            index=models.Index(fields=["name"], name="account_name_idx"),
        ),
    ]
