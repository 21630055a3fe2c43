"""The daily rollup of the lines of won deals per product, owner and currency, with the PostgreSQL
triggers that keep it (``reports/rollups.py``), counted once from the existing lines. SQLite gets
the empty table only.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from reports import rollups


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.products_install_sql())


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.PRODUCTS_UNINSTALL_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0047_lost_moves_from_the_index"),
        ("reports", "0008_activity_day_key_carries_count"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("currency", models.CharField(max_length=3)),
                ("lines", models.IntegerField()),
                ("units", models.DecimalField(decimal_places=2, max_digits=20)),
                ("value", models.DecimalField(decimal_places=2, max_digits=24)),
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
                (
                    "product",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="pipeline.product",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["day"],
                        include=("product", "owner", "currency", "lines", "units", "value"),
                        name="product_day_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("product", "owner", "day", "currency"), name="product_day_key"
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
