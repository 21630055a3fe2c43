"""Every live deal by amount: the deal list sorted by amount, for an admin or a manager whose team
holds a large share of all deals, walks it a few hundred rows in instead of merging every owner's
first rows (``deal_list_page``)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0043_deal_created_sums_from_the_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("id__gt", 0)),
                fields=["amount", "id"],
                name="deal_live_amount_idx",
            ),
        ),
    ]
