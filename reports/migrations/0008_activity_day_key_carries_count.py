"""The activity rollup's key carries the count: a team's half year of days (125,000 rows for every
rep at 1,000,000 deals) is summed from the index alone, with no visit to the table. The triggers'
upserts still find their row by the key's columns. One transaction: no write lands between the
old key's removal and the new one.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0007_closed_day"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="activityday", name="activity_day_key"),
        migrations.AddConstraint(
            model_name="activityday",
            constraint=models.UniqueConstraint(
                fields=("author", "day", "kind"), include=("count",), name="activity_day_key"
            ),
        ),
    ]
