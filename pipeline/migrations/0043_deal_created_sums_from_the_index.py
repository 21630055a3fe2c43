"""An index of the live deals by creation with their owner, currency and amount: team health's
deals created in a period (how many, and their value at the creation date's rate) per owner are
read from it alone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0042_deal_closed_sums_from_the_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["created_at"],
                include=["owner", "currency", "amount"],
                name="deal_live_created_idx",
            ),
        ),
    ]
