"""Daily rollups of activities and stage advances, with the PostgreSQL triggers that keep them
(``reports/rollups.py``), counted once from the existing rows. SQLite gets the empty tables only.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from reports import rollups


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.install_sql(settings.TIME_ZONE))


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.UNINSTALL_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0005_statement_line_replaced_kind"),
        ("pipeline", "0040_deal_history_superseded_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ActivityDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("kind", models.CharField(max_length=16)),
                ("count", models.IntegerField()),
                (
                    "author",
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
                        fields=("author", "day", "kind"),
                        name="activity_day_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AdvanceDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("count", models.IntegerField()),
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
                    models.UniqueConstraint(fields=("owner", "day"), name="advance_day_key")
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
