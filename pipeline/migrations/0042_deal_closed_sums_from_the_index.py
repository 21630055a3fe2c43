"""The per-owner close index of live deals carries their status, amount and currency.

A team's deals closed in a period (won and lost counts, won value at the close date's rate, the
sales cycle) are then summed from the index alone (``reports.metrics.sums_by_owner``): at
1,000,000 deals, one query over "open or closed in the period" read all 23,000 table pages of the
deals table for a team's 190,000 deals.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0041_deal_history_open_span_covering"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="deal",
            name="deal_live_owner_closed_idx",
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["owner", "closed_at"],
                include=["created_at", "id", "status", "currency", "amount"],
                name="deal_live_owner_closed_idx",
            ),
        ),
    ]
