"""The daily rollup of the live deals created per owner and currency, with the PostgreSQL triggers
that keep it (``reports/rollups.py``), counted once from the existing deals. SQLite gets the empty
table only.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from reports import rollups


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.created_install_sql())


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.CREATED_UNINSTALL_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0010_territory_rollups"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CreatedDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                ("deals", models.IntegerField()),
                ("amount", models.DecimalField(decimal_places=2, max_digits=20)),
                (
                    "owner",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "owner", "currency"),
                        include=("deals", "amount"),
                        name="created_day_key",
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
