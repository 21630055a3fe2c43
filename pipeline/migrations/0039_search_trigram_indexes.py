"""Trigram indexes for the API's contact, account and deal search, on PostgreSQL.

A search matches ``UPPER(column) LIKE UPPER('%term%')`` (``icontains``): a GIN index of the
column's upper-cased trigrams finds the rows holding a term of three letters or more without
reading every row (``salesmgr.api.search.SearchFilter``, ``search_by_index``). SQLite has no
such index; its search reads the rows as before.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "contact_first_name_trgm_idx": ("pipeline_contact", "first_name"),
    "contact_last_name_trgm_idx": ("pipeline_contact", "last_name"),
    "contact_email_trgm_idx": ("pipeline_contact", "email"),
    "account_name_trgm_idx": ("pipeline_account", "name"),
    "account_industry_trgm_idx": ("pipeline_account", "industry"),
    "account_region_trgm_idx": ("pipeline_account", "region"),
    "deal_name_trgm_idx": ("pipeline_deal", "name"),
    "deal_external_id_trgm_idx": ("pipeline_deal", "external_id"),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, column) in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin (UPPER("{column}") gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class PostgresTrigramExtension(TrigramExtension):
    """``pg_trgm``, on PostgreSQL only: Django's operation skips other databases going forwards but
    asks for ``pg_extension`` going backwards, which fails on SQLite."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0038_deal_list_indexes")]

    operations = [PostgresTrigramExtension(), migrations.RunPython(create, drop)]
