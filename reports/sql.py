"""SQL building blocks the metrics share, written once for SQLite and PostgreSQL."""

from collections.abc import Iterator

from django.db import connections
from django.db.models import F, FloatField, Func, IntegerField, QuerySet, Window
from django.db.models.expressions import ValueRange, WindowFrame, WindowFrameExclusion
from django.db.models.functions import Cast, FirstValue, Floor, LastValue, Log


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


class DaysApart(DaysBetween):
    """``DaysBetween`` in double precision on PostgreSQL, for days that are cut to whole ones or
    decay: ``EXTRACT`` gives numeric seconds, and numeric division costs microseconds a row
    (seconds over a year of transitions at a million deals), where ``date_part`` gives a
    double. Exact to the microsecond over any span the model reads (2^53 microseconds is
    nearly three centuries)."""

    def as_postgresql(self, compiler, connection, **extra_context):
        later, earlier, params = self._operands(compiler)
        return f"(date_part('epoch', ({later}) - ({earlier})) / 86400.0)", params


class IntervalDays(Func):
    """An interval (a summed ``DurationField``, such as the closed rollup's ages) in fractional days:
    on PostgreSQL ``EXTRACT(EPOCH ...) / 86400.0`` as ``DaysBetween`` computes each deal's, so the
    days of a summed interval are the sum of its deals' days."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra_context):
        interval, params = compiler.compile(self.source_expressions[0])
        return f"(EXTRACT(EPOCH FROM ({interval})) / 86400.0)", params

    def as_sql(self, compiler, connection, **extra_context):
        raise NotImplementedError(f"IntervalDays has no SQL for {connection.vendor}")


# Rows read from the database at a time when a grouped result is streamed (``aggregate_over``).
STREAM_ROWS = 5000


def aggregate_over(
    inner: QuerySet,
    select: str,
    where: str,
    params: tuple,
    group: str,
    per_row: dict | None = None,
    stream: bool = False,
) -> list[tuple] | Iterator[tuple]:
    """``SELECT select FROM (inner) WHERE where GROUP BY group``, for aggregates over window functions.

    SQL forbids an aggregate of a window function in one query level and the
    ORM has no subquery in FROM; ``inner`` is compiled by the ORM and the
    outer level is plain SQL over its column aliases, which both databases read alike.
    ``per_row`` (alias -> SQL over those columns) computes columns once per row
    that passes ``where``, in a level between the two, for ``select`` to read
    by alias: an expression ``select`` uses several times is then worked out once.
    ``stream``: the rows come as they are read (``_streamed``), not as a list.
    """
    sql, inner_params = inner.query.sql_with_params()
    rows = f"({sql}) inner_rows WHERE {where}"
    if per_row:
        columns = ", ".join(f"{expression} AS {alias}" for alias, expression in per_row.items())
        # OFFSET 0 keeps PostgreSQL from pulling the level up, which would put each
        # expression back at every use.
        fence = " OFFSET 0" if connections[inner.db].vendor == "postgresql" else ""
        rows = f"(SELECT inner_rows.*, {columns} FROM {rows}{fence}) inner_rows"
    query = (f"SELECT {select} FROM {rows} GROUP BY {group}", (*inner_params, *params))
    # On the database the ORM would read inner from (the replica for a routed report).
    if stream:
        return _streamed(connections[inner.db], *query)
    with connections[inner.db].cursor() as cursor:
        cursor.execute(*query)
        return cursor.fetchall()


def _streamed(connection, sql: str, params: tuple) -> Iterator[tuple]:
    """The rows of ``sql``, ``STREAM_ROWS`` at a time from a server-side cursor where the
    database has one: a result of a million rows is never held whole, in the driver or here."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(STREAM_ROWS):
            yield from rows


# A window frame over the same deal's transitions strictly after the current one (later ``at``).
LATER = ValueRange(start=0, end=None, exclusion=WindowFrameExclusion.GROUP)


class _LaterBackwards(WindowFrame):
    """``LATER`` read backwards in time on PostgreSQL: the rows before the current one in
    descending ``at``, strictly later by at least the clock's step (a microsecond).

    ``LATER``'s frame starts at the current row and excludes its peers, so PostgreSQL starts
    each row's aggregate over (a minimum has no way to drop a row); this one starts at the
    partition's first row with no exclusion, so each aggregate adds one row per row.
    """

    def __init__(self):
        super().__init__()

    def as_sql(self, compiler, connection):
        return "RANGE BETWEEN UNBOUNDED PRECEDING AND '1 microsecond'::interval PRECEDING", []

    def window_frame_start_end(
        self, connection, start, end
    ):  # pragma: no cover - as_sql says it all
        raise NotImplementedError


class LaterInDeal(Window):
    """``aggregate`` over the same deal's transitions strictly after this one (``later_in_deal``)."""

    def __init__(self, aggregate):
        super().__init__(
            aggregate, partition_by=[F("deal_id")], order_by=F("at").asc(), frame=LATER
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        backwards = self.copy()
        backwards.order_by = self.order_by.copy()
        backwards.order_by.source_expressions = [
            ordering.copy().reverse_ordering() for ordering in self.order_by.source_expressions
        ]
        backwards.frame = _LaterBackwards()
        # The first later row forwards is the last of the frame backwards.
        if isinstance(self.source_expression, FirstValue):
            backwards.source_expression = LastValue(
                *self.source_expression.get_source_expressions()
            )
            backwards.source_expression.output_field = self.source_expression.output_field
        return backwards.as_sql(compiler, connection, **extra_context)


class FloorLog2(Func):
    """``floor(log2(value))`` of a positive number, as an integer.

    On PostgreSQL a numeric ``LOG`` costs about 9 microseconds a row (seconds over a year of
    transitions at a million deals): the double-precision logarithm is taken instead and set
    right by comparing the value itself with the powers of two either side, so the answer is
    exact even where rounding puts the logarithm of a power of two a hair below it.
    """

    output_field = IntegerField()
    # How near a whole number the double-precision logarithm must lie to be checked exactly
    # (its error is below 1e-13 for any amount a deal can hold).
    NEAR = "1e-9"

    def as_sql(self, compiler, connection, **extra_context):
        return Cast(Floor(Log(2, self.source_expressions[0])), IntegerField()).as_sql(
            compiler, connection
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        value, params = compiler.compile(self.source_expressions[0])
        log2 = f"(LN(CAST(({value}) AS DOUBLE PRECISION)) / LN(2.0))"
        guess = f"FLOOR({log2})"
        # The numeric powers (some 3 microseconds a row) only where the double-precision
        # logarithm lies near a whole number: elsewhere its floor is the answer, as its error
        # (a few units in the 16th digit) cannot carry it across a whole number.
        sql = (
            f"(CAST({guess} AS INTEGER) + CASE"
            f" WHEN ABS({log2} - ROUND({log2})) > {self.NEAR} THEN 0"
            f" WHEN ({value}) >= POWER(2::numeric, CAST({guess} + 1 AS NUMERIC)) THEN 1"
            f" WHEN ({value}) < POWER(2::numeric, CAST({guess} AS NUMERIC)) THEN -1 ELSE 0 END)"
        )
        # The value: once in the guess, twice in the nearness test, and in the two checks.
        return sql, (*params,) * 7


def later_in_deal(aggregate) -> Window:
    """``aggregate`` over the same deal's transitions strictly after this one."""
    return LaterInDeal(aggregate)
