"""On PostgreSQL the database itself refuses overlapping quota periods.

``quota_set`` checks overlaps on every backend; this exclusion constraint makes
the rule hold even for writes that bypass it. SQLite has no equivalent.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE quotas_quota ADD CONSTRAINT quota_periods_do_not_overlap
    EXCLUDE USING gist (owner_id WITH =, daterange(period_start, period_end, '[]') WITH &&);
"""
DROP = "ALTER TABLE quotas_quota DROP CONSTRAINT IF EXISTS quota_periods_do_not_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("quotas", "0002_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
