"""Products sold: units and value of each product on won deals, with the change against the period before.

A won deal counts in the period its ``closed_at`` falls in, in the scope it
lay in when it closed (``closed_deal_rows``). A line's value is its total
(quantity times unit price less the discount, to the cent) converted to the
reporting currency at the rate of the deal's close date, like every won
figure. The previous period has the same length and ends where the period
starts; the movers are the table's rows whose value changed most.

By product, rep or team for a people scope the figures come from the products
rollup (``ProductDay``: won lines per product, owner, close day and currency)
where PostgreSQL keeps it; by territory at close, or for a territory, pipeline
or product pick, from the lines themselves. Both give the same rows.
"""

import datetime
from collections.abc import Iterator
from decimal import Decimal

import plotly.graph_objects as go
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Round
from django.http import QueryDict

from pipeline.models import DealLineItem, StageKind
from pipeline.money import (
    at_close,
    at_day,
    reporting_currency,
    unconverted,
    unconverted_by_currency,
    unconverted_notice,
)
from pipeline.picker import Pick
from pipeline.scopes import Scope
from pipeline.selectors import account_territory_at
from reports import rollups
from reports.catalog.base import Column, Report, ReportResult, register
from reports.catalog.breakdowns import breakdown, by_option, people_names, territory_names
from reports.catalog.people_figures import other_conditions
from reports.charts import WON, Chart, _chart, _float, _money_axis, money
from reports.metrics import closed_deal_rows
from salesmgr.models import User

BY = {"product": "Product", "rep": "Rep", "team": "Team", "territory": "Territory"}
MOVERS = 5
CHART_ROWS = 12
PREVIOUS = "#E69F00"
LINE_VALUE = DecimalField(max_digits=30, decimal_places=2)


def line_value():
    """A line's total in the deal's currency, rounded to the cent as ``line_total`` rounds it."""
    gross = F("quantity") * F("unit_price") * (Value(100) - F("discount_pct")) / Value(100)
    return Round(ExpressionWrapper(gross, output_field=LINE_VALUE), 2)


def won_deal_lines(scope: Scope, start: datetime.datetime, end: datetime.datetime) -> QuerySet:
    """The lines of the scope's live deals won from ``start`` to ``end`` (``closed_deal_rows``'
    deals, each placed in the territory its account lay in when it closed).

    The deals are filtered through the line's own join to its deal rather than as a list of
    ids (``deal_id IN (SELECT ...)``): the planner then reads the won deals from
    ``deal_won_owner_closed_idx`` and each one's lines from the deal index, where it read every
    line of every deal and looked each matching one's deal up again (0.5 s for a manager at
    1,000,000 deals).
    """
    return DealLineItem.objects.filter(
        scope.deal_filter("deal__", territory_at="closed_at"),
        deal__deleted_at__isnull=True,
        deal__status=StageKind.WON,
        deal__closed_at__gte=start,
        deal__closed_at__lt=end,
    )


def _group_field(by: str) -> str | None:
    return {
        "rep": "deal__owner_id",
        "team": "deal__owner__manager_id",
        "territory": "territory",
    }.get(by)


def _change_pct(value: Decimal, previous: Decimal) -> float | None:
    return None if not previous else float((value - previous) / previous)


@register
class ProductsSold(Report):
    slug = "products-sold"
    title = "Products sold"
    summary = "Units and value of each product on won deals, against the period before."
    template = "reports/catalog/_products_sold.html"

    def options(self, params: QueryDict) -> dict:
        return by_option(params)

    def columns(self, by: str) -> list[Column]:
        group = [] if by == "product" else [Column("group", BY[by])]
        return [
            *group,
            Column("product", "Product"),
            Column("sku", "SKU"),
            Column("units", "Units", "number"),
            Column("value", f"Value ({reporting_currency()})", "money"),
            Column("previous", "Previous period", "money"),
            Column("change", "Change", "money"),
            Column("change_pct", "Change", "percent"),
        ]

    def build(
        self, user: User, pick: Pick, today: datetime.date, by: str | None = None
    ) -> ReportResult:
        choice = breakdown(by, BY)
        period, previous = pick.period, pick.period.previous
        start, end = period.bounds
        before, _ = previous.bounds
        group = _group_field(choice.key)
        keys = [*([group] if group else []), "product_id", "product__name", "product__sku"]
        # The rollup keeps owners, not accounts, pipelines or products: a people scope only.
        people_only = other_conditions(pick.scope) == Scope()
        if choice.key in ROLLED_BREAKDOWNS and people_only and rollups.ready():
            grouped = list(_rolled(pick.scope, period, keys))
        else:
            grouped = list(_counted(pick.scope, period, keys, choice.key))
        labels = {}
        if choice.key in ("rep", "team"):
            labels = people_names(row[group] for row in grouped)
        elif choice.key == "territory":
            labels = territory_names(row[group] for row in grouped)
        empty = {"rep": "", "team": "No team", "territory": "No territory"}.get(choice.key, "")
        rows = []
        for row in grouped:
            current, earlier = (
                row["value"].quantize(Decimal("0.01")),
                row["previous"].quantize(Decimal("0.01")),
            )
            rows.append(
                {
                    "group": labels.get(row[group], empty) if group else None,
                    "product": row["product__name"],
                    "sku": row["product__sku"],
                    "units": row["units"],
                    "value": current,
                    "previous": earlier,
                    "change": current - earlier,
                    "change_pct": _change_pct(current, earlier),
                }
            )
        rows.sort(key=lambda r: (r["group"] or "", -r["value"], r["product"]))

        notes = [choice.note] if choice.note else []
        if any(row["missing"] for row in grouped):
            won = closed_deal_rows(pick.scope).filter(
                status=StageKind.WON, closed_at__gte=before, closed_at__lt=end
            )
            notes.append(unconverted_notice(unconverted_by_currency(won, unconverted(at_close()))))
        value_total = sum((r["value"] for r in rows), Decimal("0"))
        previous_total = sum((r["previous"] for r in rows), Decimal("0"))
        totals = {
            ("group" if group else "product"): "Total",
            "value": value_total,
            "previous": previous_total,
            "change": value_total - previous_total,
            "change_pct": _change_pct(value_total, previous_total),
        }
        grouped_rows = choice.key != "product"
        up = [
            _mover(r, grouped_rows)
            for r in sorted((r for r in rows if r["change"] > 0), key=lambda r: -r["change"])[
                :MOVERS
            ]
        ]
        down = [
            _mover(r, grouped_rows)
            for r in sorted((r for r in rows if r["change"] < 0), key=lambda r: r["change"])[
                :MOVERS
            ]
        ]
        return ReportResult(
            columns=self.columns(choice.key),
            rows=rows,
            charts=[products_chart(rows, grouped_rows)],
            notes=notes,
            totals=totals if rows else None,
            extra={
                "breakdown": choice,
                "up": up,
                "down": down,
                "previous_period": previous,
            },
        )


# The breakdowns the products rollup answers (by owner); by territory at close counts the lines.
ROLLED_BREAKDOWNS = ("product", "rep", "team")


SUMS = ("units", "value", "previous", "missing")


def _sums(value, now: Q, then: Q, units: str, lines, prefix: str = "") -> dict:
    """The figures of a group (``SUMS``), each name after ``prefix``."""
    figures = (
        Sum(units, filter=now, default=Decimal("0")),
        Sum(value, filter=now, default=Decimal("0")),
        Sum(value, filter=then, default=Decimal("0")),
        lines(unconverted(value)),
    )
    return {f"{prefix}{name}": figure for name, figure in zip(SUMS, figures, strict=True)}


def _counted(scope: Scope, period, keys: list[str], by: str) -> QuerySet:
    """Per group and product, the period's units and value and the previous period's value, and the
    lines without a rate, from the won deals' lines (one query)."""
    start, end = period.bounds
    before, _ = period.previous.bounds
    lines = won_deal_lines(scope, before, end)
    if by == "territory":
        lines = lines.annotate(
            territory=account_territory_at(
                OuterRef("deal__closed_at"),
                account=OuterRef("deal__account_id"),
                live=F("deal__account__territory_id"),
            )
        )
    value = at_close(line_value(), prefix="deal__")
    now, then = Q(deal__closed_at__gte=start), Q(deal__closed_at__lt=start)
    return lines.values(*keys).annotate(
        **_sums(value, now, then, "quantity", lambda missing: Count("id", filter=missing))
    )


def _rolled(scope: Scope, period, keys: list[str]) -> Iterator[dict]:
    """``_counted`` from the products rollup (``ProductDay``): each row's value converted at its
    day's rate, the same figures. A manager's half year is 60,000 rows there, where the query over
    the lines hashed all 699,572 of them against 120,000 won deals (120-180 ms at 1,000,000 deals)."""
    rows = rollups.product_days(period.previous.start, period.end).filter(scope.deal_filter())
    now, then = Q(day__gte=period.start), Q(day__lt=period.start)
    rolled_keys = [key.replace("deal__owner", "owner") for key in keys]
    grouped = rows.values(*rolled_keys).annotate(
        # Named apart from the rollup's own columns (units, value).
        **_sums(
            at_day(amount=F("value")),
            now,
            then,
            "units",
            lambda missing: Sum("lines", filter=missing, default=0),
            prefix="sold_",
        )
    )
    for row in grouped:
        yield {
            **{key: row[rolled] for key, rolled in zip(keys, rolled_keys, strict=True)},
            **{name: row[f"sold_{name}"] for name in SUMS},
        }


def _label(row: dict, grouped: bool) -> str:
    return f"{row['group']} · {row['product']}" if grouped else row["product"]


def _mover(row: dict, grouped: bool) -> dict:
    """A row as the movers list shows it: its label and its change, e.g. "+1,200 (+25%)"."""
    pct = "" if row["change_pct"] is None else f" ({row['change_pct']:+.0%})"
    return {
        "label": _label(row, grouped),
        "change": row["change"],
        "text": f"{row['change']:+,.0f}{pct}",
    }


def products_chart(rows: list[dict], grouped: bool) -> Chart:
    """The rows of most value, this period's value beside the previous period's."""
    shown = sorted(rows, key=lambda r: -max(r["value"], r["previous"]))[:CHART_ROWS]
    labels = [_label(row, grouped) for row in shown]
    traces = [
        go.Bar(
            y=labels,
            x=[_float(row["value"]) for row in shown],
            orientation="h",
            name="This period",
            marker={"color": WON},
            customdata=[float(row["units"]) for row in shown],
            hovertemplate="%{y}: %{x:,.0f} (%{customdata:,} units)<extra></extra>",
        ),
        go.Bar(
            y=labels,
            x=[_float(row["previous"]) for row in shown],
            orientation="h",
            name="Previous period",
            marker={"color": PREVIOUS},
            hovertemplate="%{y}: %{x:,.0f} in the previous period<extra></extra>",
        ),
    ]
    values = [_float(row[key]) for row in shown for key in ("value", "previous")]
    layout = {
        "barmode": "group",
        "yaxis": {"autorange": "reversed"},
        "xaxis": _money_axis(values),
        "showlegend": True,
    }
    if shown:
        summary = (
            "Value sold: "
            + "; ".join(
                f"{label} {money(row['value'])} (previous period {money(row['previous'])})"
                for label, row in zip(labels, shown, strict=True)
            )
            + "."
        )
    else:
        summary = "Value sold: no products were sold on won deals in this period or the one before."
    return _chart(
        "products-sold-chart",
        "Value sold, this period and the one before",
        summary,
        traces,
        layout,
        height=max(240, 48 * len(shown) + 90),
    )
