"""Each recorded deal version carries ``superseded_at``, the next version's ``history_date`` (NULL: the latest).

"The version of each deal at moment m" becomes a condition on the row (``history_date <= m`` and
``superseded_at`` NULL or after m) instead of one index probe per deal. Triggers keep it right on
every path that writes history (simple-history's per-save rows, bulk loads and COPY, past-dated
inserts between two versions, re-dated rows, deletions): after each statement (PostgreSQL, through
transition tables) or row (SQLite), the spans of the deals it touched are recomputed in
``(history_date, history_id)`` order. The existing rows are filled in the same way once.
"""

from django.db import migrations, models

TABLE = "pipeline_historicaldeal"

# The spans of the deals whose ids ``touched`` (a query) yields, recomputed; only changed rows written.
_PG_RECOMPUTE = f"""
        UPDATE {TABLE} AS h SET superseded_at = n.next
        FROM (
            SELECT history_id,
                   LEAD(history_date) OVER (PARTITION BY id ORDER BY history_date, history_id) AS next
            FROM {TABLE} WHERE id IN (%s)
        ) AS n
        WHERE h.history_id = n.history_id AND h.superseded_at IS DISTINCT FROM n.next;
"""

_MOVED = "o.history_date IS DISTINCT FROM n.history_date OR o.id IS DISTINCT FROM n.id"
_PG_MOVED_IDS = f"""
            SELECT o.id FROM old_rows o JOIN new_rows n USING (history_id) WHERE {_MOVED}
            UNION
            SELECT n.id FROM old_rows o JOIN new_rows n USING (history_id) WHERE {_MOVED}"""

# The existing rows, filled once before the triggers exist.
PG_BACKFILL = f"""
UPDATE {TABLE} AS h SET superseded_at = n.next
FROM (
    SELECT history_id,
           LEAD(history_date) OVER (PARTITION BY id ORDER BY history_date, history_id) AS next
    FROM {TABLE}
) AS n
WHERE h.history_id = n.history_id AND n.next IS NOT NULL;
"""

PG_FORWARD = (
    PG_BACKFILL
    + f"""
CREATE FUNCTION pipeline_deal_history_spans() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_PG_RECOMPUTE % "SELECT id FROM new_rows"}
    ELSIF TG_OP = 'DELETE' THEN
        {_PG_RECOMPUTE % "SELECT id FROM old_rows"}
    ELSIF EXISTS (SELECT FROM old_rows o JOIN new_rows n USING (history_id) WHERE {_MOVED}) THEN
        -- Only when rows were re-dated or moved to another deal: the recompute's own update (and any
        -- other) stops here, as a statement trigger fires even for an update of no rows.
        {_PG_RECOMPUTE % _PG_MOVED_IDS}
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER pipeline_deal_history_spans_insert AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pipeline_deal_history_spans();
CREATE TRIGGER pipeline_deal_history_spans_delete AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION pipeline_deal_history_spans();
CREATE TRIGGER pipeline_deal_history_spans_update AFTER UPDATE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION pipeline_deal_history_spans();
"""
)

PG_BACKWARD = f"""
DROP TRIGGER IF EXISTS pipeline_deal_history_spans_insert ON {TABLE};
DROP TRIGGER IF EXISTS pipeline_deal_history_spans_delete ON {TABLE};
DROP TRIGGER IF EXISTS pipeline_deal_history_spans_update ON {TABLE};
DROP FUNCTION IF EXISTS pipeline_deal_history_spans();
"""

# SQLite: per row; the next version by (history_date, history_id), read for each of the deal's rows.
_SQLITE_RECOMPUTE = f"""
    UPDATE {TABLE} SET superseded_at = (
        SELECT later.history_date FROM {TABLE} AS later
        WHERE later.id = {TABLE}.id
          AND (later.history_date > {TABLE}.history_date
               OR (later.history_date = {TABLE}.history_date
                   AND later.history_id > {TABLE}.history_id))
        ORDER BY later.history_date, later.history_id LIMIT 1
    ) WHERE id = %s;
"""

SQLITE_FORWARD = [
    _SQLITE_RECOMPUTE.replace("WHERE id = %s", ""),
    f"""CREATE TRIGGER pipeline_deal_history_spans_insert AFTER INSERT ON {TABLE}
    BEGIN {_SQLITE_RECOMPUTE % "NEW.id"} END;""",
    f"""CREATE TRIGGER pipeline_deal_history_spans_delete AFTER DELETE ON {TABLE}
    BEGIN {_SQLITE_RECOMPUTE % "OLD.id"} END;""",
    f"""CREATE TRIGGER pipeline_deal_history_spans_update AFTER UPDATE OF history_date, id ON {TABLE}
    BEGIN {_SQLITE_RECOMPUTE % "OLD.id"} {_SQLITE_RECOMPUTE % "NEW.id"} END;""",
]

SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS pipeline_deal_history_spans_{event}"
    for event in ("insert", "delete", "update")
]


def _run(statements: dict):
    def run(apps, schema_editor):
        chosen = statements.get(schema_editor.connection.vendor)
        if chosen is None:
            return
        for sql in [chosen] if isinstance(chosen, str) else chosen:
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0039_search_trigram_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicaldeal",
            name="superseded_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
        migrations.AddIndex(
            model_name="historicaldeal",
            index=models.Index(
                condition=models.Q(("status", "open")),
                fields=["expected_close_date", "superseded_at", "history_date"],
                name="deal_history_open_span_idx",
            ),
        ),
    ]
