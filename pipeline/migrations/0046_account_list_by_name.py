"""The live accounts by name: the accounts list and API, in their default order, read a page off
the index for a reader who sees most accounts, instead of joining and sorting all of them."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0045_commitments_then_from_the_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["name", "id"],
                name="account_live_name_idx",
            ),
        ),
    ]
