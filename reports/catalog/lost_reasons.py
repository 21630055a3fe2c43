"""Lost reasons: the deals lost in the period, by why, by the stage they were lost at, by rep and by month.

A lost deal counts in the period its ``closed_at`` falls in, in the scope it
lay in when it closed (``closed_deal_rows``); its value is its amount
converted at the rate of its close date. The stage it was lost at is the one
it left on its move into the lost stage (the stage-transition history; the
latest, when a deal was lost, reopened and lost again); a deal created lost
or with no move recorded is "Not recorded".
A deal lost with no reason counts as "No reason given".
"""

import datetime
from decimal import Decimal

import plotly.graph_objects as go
from django.db.models import Count, F, FilteredRelation, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.http import QueryDict
from django.utils import timezone

from pipeline.models import LostReason, Stage, StageKind
from pipeline.money import (
    at_close,
    reporting_currency,
    unconverted,
    unconverted_by_currency,
    unconverted_notice,
)
from pipeline.periods import _months_later
from pipeline.picker import Pick
from reports.beside import beside
from reports.catalog.base import Column, Report, ReportResult, register
from reports.catalog.breakdowns import breakdown, by_option, people_names
from reports.charts import WON, Chart, _chart, _float, money
from reports.metrics import closed_deal_rows
from salesmgr.models import User

BY = {"reason": "Reason", "stage": "Stage lost at", "rep": "Rep"}
NO_REASON = "No reason given"
NOT_RECORDED = "Not recorded"
# The Okabe-Ito palette, one colour per reason (repeating after eight).
REASON_COLOURS = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#F0E442",
    "#000000",
]


def with_lost_move(lost: QuerySet, start: datetime.datetime, end: datetime.datetime) -> QuerySet:
    """Lost deals joined (left) to their move into the lost stage they are in, ``lost_move``.

    That move is the deal's latest: it put the deal in its stage at ``closed_at``
    (entering a closed stage sets it), so the join needs no "latest" subquery.
    A deal created lost has no earlier stage (``from_stage`` is null). The
    period's bounds (those of ``closed_at``) and the lost stages (which the
    deal's stage is one of) let the join read only the period's moves into a
    lost stage, a range per lost stage of the moves-into-a-stage index that
    carries each move's deal and stage left.
    """
    return lost.annotate(
        lost_move=FilteredRelation(
            "transitions",
            condition=Q(
                transitions__to_stage_id=F("stage_id"),
                transitions__to_stage_id__in=Subquery(
                    Stage.objects.filter(kind=StageKind.LOST).values("pk")
                ),
                transitions__at=F("closed_at"),
                transitions__at__gte=start,
                transitions__at__lt=end,
            ),
        )
    )


def _share(part, whole):
    return None if not whole else float(Decimal(part) / Decimal(whole))


def _months(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    month, months = first.replace(day=1), []
    while month <= last:
        months.append(month)
        month = _months_later(month, 1)
    return months


@register
class LostReasons(Report):
    slug = "lost-reasons"
    title = "Lost reasons"
    summary = "Deals lost in the period: why, at which stage, by whom and when."
    template = "reports/catalog/_breakdown.html"

    def options(self, params: QueryDict) -> dict:
        return by_option(params)

    def columns(self, by: str) -> list[Column]:
        return [
            Column("name", BY[by]),
            Column("deals", "Deals lost", "int"),
            Column("deal_share", "Share of deals", "percent"),
            Column("value", f"Value ({reporting_currency()})", "money"),
            Column("value_share", "Share of value", "percent"),
        ]

    def build(
        self, user: User, pick: Pick, today: datetime.date, by: str | None = None
    ) -> ReportResult:
        choice = breakdown(by, BY)
        start, end = pick.period.bounds
        lost = closed_deal_rows(pick.scope).filter(
            status=StageKind.LOST, closed_at__gte=start, closed_at__lt=end
        )
        value = at_close()
        if choice.key == "stage":
            keyed = with_lost_move(lost, start, end).values(key=F("lost_move__from_stage_id"))
        elif choice.key == "rep":
            keyed = lost.values(key=F("owner_id"))
        else:
            keyed = lost.values(key=F("lost_reason_id"), reason=F("lost_reason__name"))
        # The months' counts need nothing of the breakdown but, by reason, its names: by stage or
        # rep they are read on a connection of their own, beside it (by stage, the breakdown joins
        # each lost deal to its move: 95 ms for an admin at 1,000,000 deals, the months 32 more).
        months_beside = choice.key != "reason"
        with beside(self._by_month if months_beside else _nothing, lost) as months:
            grouped = list(
                keyed.annotate(
                    deals=Count("id"),
                    value=Sum(value, default=Decimal("0")),
                    missing=Count("id", filter=unconverted(value)),
                ).order_by()
            )
        names = self._names(choice.key, grouped)
        deals_total = sum(row["deals"] for row in grouped)
        value_total = sum((row["value"] for row in grouped), Decimal("0")).quantize(Decimal("0.01"))
        rows = [
            {
                "name": names[row["key"]][1],
                "deals": row["deals"],
                "deal_share": _share(row["deals"], deals_total),
                "value": row["value"].quantize(Decimal("0.01")),
                "value_share": _share(row["value"], value_total),
                "_order": names[row["key"]][0],
            }
            for row in grouped
        ]
        if choice.key == "stage":
            rows.sort(key=lambda r: r["_order"])
        else:
            rows.sort(key=lambda r: (-r["deals"], -r["value"], r["name"]))
        for row in rows:
            del row["_order"]

        notes = [choice.note] if choice.note else []
        if any(row["missing"] for row in grouped):
            notes.append(unconverted_notice(unconverted_by_currency(lost, unconverted(value))))
        charts = [
            reasons_by_month_chart(
                months.result()
                if months_beside
                else self._by_month(lost, {row["key"]: row["reason"] for row in grouped}),
                _months(pick.period.start, pick.period.last_day),
            ),
            breakdown_chart(choice.label, rows),
        ]
        totals = None
        if rows:
            totals = {
                "name": "Total",
                "deals": deals_total,
                "deal_share": 1.0,
                "value": value_total,
                "value_share": 1.0 if value_total else None,
            }
        return ReportResult(
            columns=self.columns(choice.key),
            rows=rows,
            charts=charts,
            notes=notes,
            totals=totals,
            extra={"breakdown": choice},
        )

    @staticmethod
    def _names(by: str, grouped: list[dict]) -> dict:
        """Each group's (sort order, shown name) by its key, with one query at most."""
        keys = [row["key"] for row in grouped]
        if by == "reason":
            return {row["key"]: (0, row["reason"] or NO_REASON) for row in grouped}
        if by == "rep":
            people = people_names(keys)
            return {key: (0, people.get(key, "")) for key in keys}
        stages = Stage.objects.filter(pk__in=[key for key in keys if key is not None]).values(
            "pk", "name", "order", "pipeline__name"
        )
        stages = list(stages)
        several = len({stage["pipeline__name"] for stage in stages}) > 1
        names = {
            stage["pk"]: (
                (stage["pipeline__name"], stage["order"]),
                f"{stage['name']} ({stage['pipeline__name']})" if several else stage["name"],
            )
            for stage in stages
        }
        names[None] = (("\uffff", 0), NOT_RECORDED)
        return names

    @staticmethod
    def _by_month(lost, reason_names: dict | None = None) -> list[dict]:
        """Deals lost per month and reason: one grouped query, by the reason's id (a hashed group of
        a few dozen rows; grouped and sorted by the reason's name, 118,000 lost deals at 1M were
        sorted on disk first), the names from ``reason_names`` or one more query."""
        month = TruncMonth("closed_at", tzinfo=timezone.get_current_timezone())
        grouped = list(
            lost.values(month=month, reason_id=F("lost_reason_id"))
            .annotate(deals=Count("id"))
            .order_by()
        )
        if reason_names is None:
            reason_names = dict(LostReason.objects.values_list("pk", "name"))
        points = [
            {
                "month": row["month"],
                "reason": reason_names.get(row["reason_id"]),
                "deals": row["deals"],
            }
            for row in grouped
        ]
        return sorted(points, key=lambda point: (point["month"], point["reason"] or ""))


def _nothing(lost) -> None:
    """No work beside the breakdown."""


def reasons_by_month_chart(points: list[dict], months: list[datetime.date]) -> Chart:
    """Deals lost per month, stacked by reason; months with none lost read zero."""
    counts: dict[str, dict[datetime.date, int]] = {}
    for point in points:
        month = point["month"]
        month = month.date() if isinstance(month, datetime.datetime) else month
        counts.setdefault(point["reason"] or NO_REASON, {})[month] = point["deals"]
    reasons = sorted(counts, key=lambda reason: (-sum(counts[reason].values()), reason))
    traces = [
        go.Bar(
            x=[month.isoformat() for month in months],
            y=[counts[reason].get(month, 0) for month in months],
            name=reason,
            marker={"color": REASON_COLOURS[index % len(REASON_COLOURS)]},
            hovertemplate=f"{reason}: %{{y:,}} in %{{x|%B %Y}}<extra></extra>",
        )
        for index, reason in enumerate(reasons)
    ]
    layout = {
        "barmode": "stack",
        "xaxis": {"type": "date", "tickformat": "%b<br>%Y", "dtick": "M1", "tickangle": 0},
        "yaxis": {"rangemode": "tozero", "tickformat": ",d", "title": {"text": "Deals lost"}},
        "showlegend": True,
    }
    if reasons:
        summary = (
            "Deals lost by reason and month: "
            + "; ".join(
                f"{month:%B %Y} "
                + ", ".join(
                    f"{reason} {counts[reason][month]}"
                    for reason in reasons
                    if counts[reason].get(month)
                )
                for month in months
                if any(counts[reason].get(month) for reason in reasons)
            )
            + "."
        )
    else:
        summary = "Deals lost by reason and month: no deals were lost in this period."
    return _chart("lost-reasons-by-month", "Reasons by month", summary, traces, layout)


def breakdown_chart(label: str, rows: list[dict]) -> Chart:
    """Deals lost per row of the table, their value in the hover."""
    traces = [
        go.Bar(
            y=[row["name"] for row in rows],
            x=[row["deals"] for row in rows],
            orientation="h",
            marker={"color": WON},
            customdata=[_float(row["value"]) for row in rows],
            hovertemplate="%{y}: %{x:,} deals worth %{customdata:,.0f}<extra></extra>",
            name="Deals lost",
        )
    ]
    layout = {
        "yaxis": {"autorange": "reversed"},
        "xaxis": {"rangemode": "tozero", "tickformat": ",d"},
        "showlegend": False,
    }
    if rows:
        summary = (
            f"Deals lost by {label.lower()}: "
            + "; ".join(
                f"{row['name']} {row['deals']:,} worth {money(row['value'])}" for row in rows
            )
            + "."
        )
    else:
        summary = f"Deals lost by {label.lower()}: none in this period."
    return _chart(
        "lost-reasons-breakdown",
        f"Deals lost by {label.lower()}",
        summary,
        traces,
        layout,
        height=max(200, 40 * len(rows) + 70),
    )
