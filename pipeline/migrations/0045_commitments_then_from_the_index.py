"""The index of committed deal versions by close date carries each version's span, deletion mark,
currency and amount: the commitments report reads the versions committed at the last call, with
their amount then, from the index alone (``version_at``) instead of probing each deal's history."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0044_deal_list_walk_by_amount"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="historicaldeal",
            name="deal_history_commit_idx",
        ),
        migrations.AddIndex(
            model_name="historicaldeal",
            index=models.Index(
                condition=models.Q(("forecast_category", "commit"), ("status", "open")),
                fields=["expected_close_date"],
                include=("id", "history_date", "superseded_at", "deleted_at", "currency", "amount"),
                name="deal_history_commit_idx",
            ),
        ),
    ]
