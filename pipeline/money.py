"""Deal amounts in the reporting currency, converted in SQL at dated exchange rates.

A deal's ``amount`` is in its own ``currency``. Every figure is in
``settings.REPORTING_CURRENCY``: an amount in that currency counts as it is;
any other is multiplied by the currency's latest rate on or before the date
that the figure looks at (``pipeline.ExchangeRate``). A deal in a currency
with no rate by then converts to NULL: sums leave it out, and the figures say
so (``unconverted_by_currency``, ``unconverted_notice``) rather than adding an
amount as entered to amounts in another currency.

Which date: a won (or lost) deal converts at its close date, the local date
of ``closed_at``; open pipeline and forecasts at the date they are taken as of.

How, cheaply: a figure sums converted amounts many times over (dozens of sums
per deal in the nightly grouped pass), and a rate lookup correlated with the
deal runs once per foreign deal per sum. So the rates come as one JSON map that
the database builds once per query (an uncorrelated subquery: an InitPlan in
PostgreSQL), and each deal looks its rate up by key:

- as of a date (``RateMap(day)``): each currency's latest rate by then, by currency;
- at the close date (``RateMap()``): every rate by currency and the day it starts.
  A deal closed on a day with no rate of its own (rates not set daily) falls
  back to the correlated lookup of the latest rate before it.

Only a deal outside the reporting currency looks anything up, so an
organisation selling in one currency reads its sums as before. (The larger
cost with many currencies was PostgreSQL compiling these wide queries with
its JIT once the lookups raised their estimated cost; settings turn JIT off.)
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    DecimalField,
    Expression,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat, TruncDate
from django.db.models.lookups import IsNull
from django.utils import timezone

from pipeline.models import ExchangeRate

# An amount (14 digits, 2 places) times a rate (20 digits, 10 places), summed over many deals.
CONVERTED = DecimalField(max_digits=40, decimal_places=12)


def reporting_currency() -> str:
    """The currency every figure is in."""
    return settings.REPORTING_CURRENCY


def rate_on(day: datetime.date | Expression, currency: str = "currency") -> Subquery:
    """The latest rate of the row's ``currency`` on or before ``day`` (a date, or an expression of the row)."""
    day = day if hasattr(day, "resolve_expression") else Value(day)
    return Subquery(
        ExchangeRate.objects.filter(currency=OuterRef(currency), valid_from__lte=day)
        .order_by("-valid_from")
        .values("rate")[:1],
        output_field=DecimalField(max_digits=20, decimal_places=10),
    )


class RateMap(Expression):
    """Exchange rates as one JSON object, built once per query: ``{currency: rate}`` of each currency's
    latest rate on or before ``day``, or (no ``day``) ``{"currency|YYYY-MM-DD": rate}`` of every rate."""

    output_field = DecimalField(max_digits=20, decimal_places=10)

    def __init__(self, day: datetime.date | None = None):
        super().__init__()
        self.day = day

    def as_sql(self, compiler, connection):
        table = connection.ops.quote_name(ExchangeRate._meta.db_table)
        params = () if self.day is None else (self.day,)
        if connection.vendor == "postgresql":
            if self.day is None:
                return (
                    f"(SELECT jsonb_object_agg(currency || '|' || to_char(valid_from, 'YYYY-MM-DD'), rate) "
                    f"FROM {table})",
                    params,
                )
            return (
                f"(SELECT jsonb_object_agg(currency, rate) FROM (SELECT DISTINCT ON (currency) currency, rate "
                f"FROM {table} WHERE valid_from <= %s ORDER BY currency, valid_from DESC) latest)",
                params,
            )
        if self.day is None:
            return (
                f"(SELECT json_group_object(currency || '|' || valid_from, rate) FROM {table})",
                params,
            )
        return (
            f"(SELECT json_group_object(currency, rate) FROM (SELECT currency, rate, MAX(valid_from) "
            f"FROM {table} WHERE valid_from <= %s GROUP BY currency))",
            params,
        )


class RateIn(Expression):
    """The rate under ``key`` (an expression of the row) in a ``RateMap``; NULL when the map has none."""

    output_field = DecimalField(max_digits=20, decimal_places=10)

    def __init__(self, rates: RateMap, key: Expression):
        super().__init__()
        self.rates, self.key = rates, key

    def get_source_expressions(self):
        return [self.rates, self.key]

    def set_source_expressions(self, exprs):
        self.rates, self.key = exprs

    def as_sql(self, compiler, connection):
        rates, rates_params = compiler.compile(self.rates)
        key, key_params = compiler.compile(self.key)
        if connection.vendor == "postgresql":
            return f"(({rates}) ->> ({key}))::numeric(20, 10)", (*rates_params, *key_params)
        return f"json_extract({rates}, '$.\"' || ({key}) || '\"')", (*rates_params, *key_params)


class DayText(Func):
    """A date as ``YYYY-MM-DD`` text, the form of the day in ``RateMap``'s keys."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, template="to_char(%(expressions)s, 'YYYY-MM-DD')", **extra_context
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="%(expressions)s", **extra_context)


def local_date_of(moment: OuterRef) -> TruncDate:
    """The local date of the outer row's timestamp ``moment`` (an ``OuterRef``), for a rate lookup."""
    return TruncDate(
        ExpressionWrapper(moment, output_field=DateTimeField()),
        tzinfo=timezone.get_current_timezone(),
    )


def close_day(prefix: str = "") -> TruncDate:
    """The local date of a deal's ``closed_at``, the day its won or lost value converts at."""
    return local_date_of(OuterRef(f"{prefix}closed_at"))


def converted(*, on: datetime.date | Expression, amount: Expression | None = None) -> Case:
    """``amount`` (default the deal's) in the reporting currency at the rate of ``on``; NULL without a rate.

    ``on`` is a date (an as-of figure: one rate per currency) or an expression
    over the outer row built with ``OuterRef``, such as ``close_day()``.
    """
    amount = F("amount") if amount is None else amount
    if isinstance(on, datetime.date):
        rate = RateIn(RateMap(on), F("currency"))
    else:
        rate = rate_on(on)
    return Case(
        When(currency=reporting_currency(), then=amount),
        default=amount * rate,
        output_field=CONVERTED,
    )


def at_close(amount: Expression | None = None, prefix: str = "") -> Case:
    """The deal's amount in the reporting currency at the rate of its close date: the rate that starts
    on that day from the map of all rates, else the latest before it. ``prefix`` reaches the deal from
    another model (``deal__`` from a line item, whose ``amount`` is then given)."""
    amount = F(f"{prefix}amount") if amount is None else amount
    currency = f"{prefix}currency"
    day = TruncDate(f"{prefix}closed_at", tzinfo=timezone.get_current_timezone())
    starting_that_day = RateIn(RateMap(), Concat(F(currency), Value("|"), DayText(day)))
    return Case(
        When(**{currency: reporting_currency()}, then=amount),
        default=amount * Coalesce(starting_that_day, rate_on(close_day(prefix), currency)),
        output_field=CONVERTED,
    )


def at_day(day: str = "day", amount: Expression | None = None) -> Case:
    """``at_close`` for a row that carries its close date in the column ``day`` (a rollup of the deals
    closed per day and currency): ``amount`` (default the row's) at the rate that starts that day from
    the map of all rates, else the latest before it; NULL without a rate."""
    amount = F("amount") if amount is None else amount
    starting_that_day = RateIn(RateMap(), Concat(F("currency"), Value("|"), DayText(F(day))))
    return Case(
        When(currency=reporting_currency(), then=amount),
        default=amount * Coalesce(starting_that_day, rate_on(OuterRef(day))),
        output_field=CONVERTED,
    )


def in_reporting_currency(today: datetime.date | None = None) -> Case:
    """A deal's own amount in the reporting currency: a closed deal at its close date's rate, an open one
    at ``today``'s (default: the local date); NULL without a rate. For lists and exports."""
    return Case(
        When(closed_at__isnull=False, then=at_close()),
        default=converted(on=today or timezone.localdate()),
        output_field=CONVERTED,
    )


def unconverted(value: Expression) -> Q:
    """The rows whose ``converted`` value is NULL: a currency without a rate by the date."""
    return Q(IsNull(value, True))


def unconverted_count(value: Expression, condition: Q) -> Count:
    """How many of the rows ``condition`` picks have no rate (an aggregate; 0 when all convert)."""
    return Count("id", filter=condition & unconverted(value))


def unconverted_by_currency(rows: QuerySet, condition: Q) -> list[dict]:
    """The deals among ``rows`` that ``condition`` picks, per currency: how many and their value as entered.

    ``condition`` names the deals that have no rate (``unconverted``). One grouped query.
    """
    grouped = (
        rows.filter(condition)
        .values("currency")
        .annotate(deals=Count("id"), value=Sum("amount"))
        .order_by("currency")
    )
    return [
        {"currency": row["currency"], "deals": row["deals"], "value": _cents(row["value"])}
        for row in grouped
    ]


def merge_unconverted(*parts: list[dict]) -> list[dict]:
    """Several ``unconverted_by_currency`` lists added up per currency (a deal counted in one part only)."""
    merged: dict[str, dict] = {}
    for part in parts:
        for item in part:
            entry = merged.setdefault(
                item["currency"],
                {"currency": item["currency"], "deals": 0, "value": Decimal("0.00")},
            )
            entry["deals"] += item["deals"]
            entry["value"] += Decimal(item["value"])
    return [merged[currency] for currency in sorted(merged)]


def unconverted_notice(items: list[dict]) -> str:
    """The sentence a figure carries when deals were left out for want of a rate ('' when none were)."""
    if not items:
        return ""
    parts = [
        f"{item['deals']} deal{'s' if item['deals'] != 1 else ''} in {item['currency']} "
        f"({item['currency']} {_short(Decimal(item['value']))})"
        for item in items
    ]
    many = sum(item["deals"] for item in items) != 1
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (
        f"{listed} {'have' if many else 'has'} no exchange rate to {reporting_currency()} "
        f"and {'are' if many else 'is'} left out."
    )


def _short(value: Decimal) -> str:
    if abs(value) >= 10**9:
        return f"{value / 10**9:,.1f}bn"
    if abs(value) >= 10**6:
        return f"{value / 10**6:,.1f}M"
    if abs(value) >= 10**4:
        return f"{value / 10**3:,.1f}k"
    return f"{value:,.2f}"


def _cents(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))
