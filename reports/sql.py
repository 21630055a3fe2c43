"""SQL building blocks the metrics share, written once for SQLite and PostgreSQL."""

from django.db import connections
from django.db.models import F, FloatField, Func, QuerySet, Window
from django.db.models.expressions import ValueRange, WindowFrameExclusion


class DaysBetween(Func):
    """``later - earlier`` in fractional days, computed by the database."""

    output_field = FloatField()

    def __init__(self, later, earlier, **extra):
        super().__init__(later, earlier, **extra)

    def _operands(self, compiler):
        later, later_params = compiler.compile(self.source_expressions[0])
        earlier, earlier_params = compiler.compile(self.source_expressions[1])
        return later, earlier, (*later_params, *earlier_params)

    def as_sqlite(self, compiler, connection, **extra_context):
        later, earlier, params = self._operands(compiler)
        return f"(julianday({later}) - julianday({earlier}))", params

    def as_postgresql(self, compiler, connection, **extra_context):
        later, earlier, params = self._operands(compiler)
        return f"(EXTRACT(EPOCH FROM (({later}) - ({earlier}))) / 86400.0)", params

    def as_sql(self, compiler, connection, **extra_context):
        raise NotImplementedError(f"DaysBetween has no SQL for {connection.vendor}")


def aggregate_over(
    inner: QuerySet, select: str, where: str, params: tuple, group: str, per_row: dict | None = None
) -> list[tuple]:
    """``SELECT select FROM (inner) WHERE where GROUP BY group``, for aggregates over window functions.

    SQL forbids an aggregate of a window function in one query level and the
    ORM has no subquery in FROM; ``inner`` is compiled by the ORM and the
    outer level is plain SQL over its column aliases, which both databases read alike.
    ``per_row`` (alias -> SQL over those columns) computes columns once per row
    that passes ``where``, in a level between the two, for ``select`` to read
    by alias: an expression ``select`` uses several times is then worked out once.
    """
    sql, inner_params = inner.query.sql_with_params()
    rows = f"({sql}) inner_rows WHERE {where}"
    if per_row:
        columns = ", ".join(f"{expression} AS {alias}" for alias, expression in per_row.items())
        # OFFSET 0 keeps PostgreSQL from pulling the level up, which would put each
        # expression back at every use.
        fence = " OFFSET 0" if connections[inner.db].vendor == "postgresql" else ""
        rows = f"(SELECT inner_rows.*, {columns} FROM {rows}{fence}) inner_rows"
    # On the database the ORM would read inner from (the replica for a routed report).
    with connections[inner.db].cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM {rows} GROUP BY {group}",
            (*inner_params, *params),
        )
        return cursor.fetchall()


# A window frame over the same deal's transitions strictly after the current one (later ``at``).
LATER = ValueRange(start=0, end=None, exclusion=WindowFrameExclusion.GROUP)


def later_in_deal(aggregate) -> Window:
    """``aggregate`` over the same deal's transitions strictly after this one."""
    return Window(aggregate, partition_by=[F("deal_id")], order_by=F("at").asc(), frame=LATER)
