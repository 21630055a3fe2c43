"""Putting checked rows in the database: COPY on PostgreSQL with ids taken in advance, else ``bulk_create``."""

import csv
import io

from django.db import connection, models

from pipeline.models import Deal, DealLineItem, StageTransition
from pipeline.services.imports.planning import STATE_FIELDS, DealPlan


def write_deals(plans: list[DealPlan], batch_size: int) -> list[int]:
    """Insert planned deals with their transitions, line items and history; their ids in order."""
    deal_ids = insert_rows(
        Deal,
        _DEAL_COLUMNS,
        [[p.values[c] for c in _DEAL_COLUMNS] for p in plans],
        batch_size,
        return_ids=True,
    )
    insert_rows(
        StageTransition,
        ["deal_id", "from_stage_id", "from_stage_entered_at", "to_stage_id", "at", "by_id"],
        _transition_rows(deal_ids, plans),
        batch_size,
    )
    insert_rows(
        DealLineItem,
        ["deal_id", "product_id", "quantity", "unit_price", "discount_pct"],
        [
            (deal_id, *item)
            for deal_id, plan in zip(deal_ids, plans, strict=True)
            for item in plan.line_items
        ],
        batch_size,
    )
    insert_rows(_HISTORY, _HISTORY_COLUMNS, _history_rows(deal_ids, plans), batch_size)
    return deal_ids


def _transition_rows(deal_ids: list[int], plans: list["DealPlan"]):
    """Transition rows, each carrying when the deal had entered the stage it leaves."""
    for deal_id, plan in zip(deal_ids, plans, strict=True):
        entered_at = None
        for from_stage_id, to_stage_id, at, by_id in plan.transitions:
            yield (deal_id, from_stage_id, entered_at, to_stage_id, at, by_id)
            entered_at = at


_HISTORY = Deal.history.model
_DEAL_COLUMNS = [f.attname for f in Deal._meta.concrete_fields if not f.primary_key]
_HISTORY_COLUMNS = [f.attname for f in _HISTORY._meta.concrete_fields if not f.primary_key]
_HISTORY_SLOTS = [
    _HISTORY_COLUMNS.index(name) for name in ("history_date", "history_user_id", *STATE_FIELDS)
]
_HISTORY_TYPE_SLOT = _HISTORY_COLUMNS.index("history_type")
_HISTORY_ID_SLOT = _HISTORY_COLUMNS.index("id")


def _history_rows(deal_ids: list[int], plans: list[DealPlan]):
    """The historical versions of the deals, each a full copy of the deal at that point."""
    for deal_id, plan in zip(deal_ids, plans, strict=True):
        base = [plan.values.get(name) for name in _HISTORY_COLUMNS]
        base[_HISTORY_ID_SLOT] = deal_id
        history_type = "+"
        for state in plan.states:
            row = base.copy()
            for slot, value in zip(_HISTORY_SLOTS, state, strict=True):
                row[slot] = value
            row[_HISTORY_TYPE_SLOT] = history_type
            history_type = "~"
            yield row


def insert_rows(
    model, columns: list[str], rows, batch_size: int, *, return_ids: bool = False
) -> list[int]:
    """Insert ``rows`` (sequences of values for ``columns``, attnames); the new ids if asked for."""
    if connection.vendor == "postgresql":
        rows = rows if isinstance(rows, list) else list(rows)
        ids = []
        if return_ids:
            ids = _reserve_ids(model, len(rows))
            columns = [model._meta.pk.attname, *columns]
            rows = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
        _copy(model, columns, rows)
        return ids
    objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
    model._base_manager.bulk_create(objects, batch_size=batch_size)
    return [obj.pk for obj in objects] if return_ids else []


def _reserve_ids(model, count: int) -> list[int]:
    """Take ``count`` ids from the table's sequence, so rows can be copied in with known ids."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return sorted(pk for (pk,) in cursor.fetchall())


def _copy(model, columns: list[str], rows: list) -> None:
    """COPY rows into the model's table, as CSV: NULL is an unquoted empty field."""
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]
    not_null_text = [
        quote(f.column)
        for f in fields
        if not f.null and isinstance(f, models.CharField | models.TextField)
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    options = "FORMAT csv"
    if not_null_text:
        # An empty string in a NOT NULL text column is an empty string, not NULL.
        options += f", FORCE_NOT_NULL ({', '.join(not_null_text)})"
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN WITH ({options})"
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, buffer)
