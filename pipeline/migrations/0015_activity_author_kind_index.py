"""Activities by author and time cover their kind: the reports that count a team's activities per
person, week and kind (funnel activity, rep scorecards) read the index alone once the table is vacuumed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0014_webhooks"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="activity", name="activity_author_idx"),
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(
                fields=["author", "occurred_at"], include=["kind"], name="activity_author_kind_idx"
            ),
        ),
    ]
