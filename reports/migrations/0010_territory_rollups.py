"""The territory rollups: the live accounts by owner and territory, and the live open deals and the
deals won per day by owner, currency and the territory of their account, with the PostgreSQL
triggers that keep them (``reports/rollups.py``), counted once from the existing accounts and
deals. The other rollups' functions are written again, each statement now planned afresh at every
firing (``rollups._planned_afresh``). SQLite gets the empty tables only.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from reports import rollups


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.replanned_functions_sql())
        schema_editor.execute(rollups.territories_install_sql())


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(rollups.TERRITORIES_UNINSTALL_SQL)


def _keys():
    return [
        (
            "territory",
            models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="quotas.territory",
            ),
        ),
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
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0047_lost_moves_from_the_index"),
        ("quotas", "0006_territory_owner_and_handover_rule"),
        ("reports", "0009_product_day"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TerritoryAccounts",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("accounts", models.IntegerField()),
                *_keys(),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("territory", "owner"),
                        include=("accounts",),
                        name="territory_accounts_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TerritoryOpen",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("currency", models.CharField(max_length=3)),
                ("deals", models.IntegerField()),
                ("amount", models.DecimalField(decimal_places=2, max_digits=20)),
                *_keys(),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("territory", "owner", "currency"),
                        include=("deals", "amount"),
                        name="territory_open_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TerritoryWonDay",
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
                *_keys(),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "territory", "owner", "currency"),
                        include=("deals", "amount"),
                        name="territory_won_day_key",
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
