"""The open-span index of deal versions carries the columns a past window's pipeline sums, and
the open deals' per-owner index their forecast category.

A past window's pipeline (a scorecard's previous period, the forecast a week ago, team health for a
past period) reads the open versions due in the window that were their deal's version at a moment.
The span was checked in the index, but each such version was then read from the table for its
owner, amount, currency, stage and category: at 1,000,000 deals 50,000-95,000 versions from
60,000-90,000 table pages. With those columns included the sums are read from the index alone.

The open deals' per-owner index by close date gains the forecast category (and the status the
sums' FILTER repeats), so a team's forecast windows today are summed from it as well.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0040_deal_history_superseded_at"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="historicaldeal",
            name="deal_history_open_span_idx",
        ),
        migrations.AddIndex(
            model_name="historicaldeal",
            index=models.Index(
                condition=models.Q(("status", "open")),
                fields=["expected_close_date", "superseded_at", "history_date"],
                include=(
                    "status",
                    "forecast_category",
                    "history_type",
                    "deleted_at",
                    "id",
                    "owner",
                    "stage",
                    "currency",
                    "amount",
                ),
                name="deal_history_open_span_idx",
            ),
        ),
        migrations.RemoveIndex(
            model_name="deal",
            name="deal_open_owner_close_idx",
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("status", "open")),
                fields=["owner", "expected_close_date", "id"],
                include=[
                    "currency",
                    "amount",
                    "account",
                    "stage",
                    "stage_entered_at",
                    "forecast_category",
                    "status",
                ],
                name="deal_open_owner_close_idx",
            ),
        ),
    ]
