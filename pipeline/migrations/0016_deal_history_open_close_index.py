from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0015_activity_author_kind_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="historicaldeal",
            index=models.Index(
                condition=models.Q(("status", "open")),
                fields=["expected_close_date", "forecast_category"],
                name="deal_history_open_close_idx",
            ),
        ),
    ]
