"""One chart comparing people or teams on one metric: a bar each, the previous period and the median.

Shared by the rep scorecards and team health. The metric is the page's
``metric`` query parameter, checked against the report's choices (a 400 naming
the parameter otherwise); no queries here.
"""

from decimal import Decimal

import plotly.graph_objects as go
from django.core.exceptions import ValidationError
from django.http import QueryDict

from reports.charts import INK, MUTED, WON, Chart, _chart, _float, _money_axis, money, percent

PREVIOUS = "#E69F00"


def chosen_metric(params: QueryDict, choices: dict[str, tuple[str, str]], default: str) -> str:
    """The ``metric`` asked for, or ``default``; a ValidationError naming the parameter for another."""
    metric = params.get("metric") or default
    if metric not in choices:
        raise ValidationError(f"metric: choose one of {', '.join(choices)} (not {metric[:40]!r}).")
    return metric


def shown(value, kind: str) -> str:
    if kind == "percent":
        return percent(value)
    if kind == "money":
        return money(value)
    if value is None:
        return "n/a"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "number":
        return f"{float(value):,.2f}"
    return f"{float(value):,.1f}"


def _axis(kind: str, values: list[float | None]) -> dict:
    if kind == "money":
        return _money_axis(values)
    if kind == "percent":
        return {"tickformat": ".0%", "rangemode": "tozero"}
    return {"rangemode": "tozero"}


def comparison_chart(
    dom_id: str,
    *,
    title: str,
    kind: str,
    labels: list[str],
    values: list,
    previous: list | None = None,
    median: float | Decimal | None = None,
    median_label: str = "Team median",
) -> Chart:
    """Horizontal bars of ``values`` by ``labels`` (first at the top), the ``previous`` period's as
    open diamonds, and the ``median`` as a dashed line."""
    now = [_float(value) for value in values]
    traces = [
        go.Bar(
            y=labels,
            x=now,
            orientation="h",
            marker={"color": WON},
            name="This period",
            text=[shown(value, kind) for value in values],
            textposition="auto",
            hoverinfo="y+text",
        )
    ]
    before = [_float(value) for value in previous] if previous is not None else []
    if previous is not None:
        traces.append(
            go.Scatter(
                y=labels,
                x=before,
                mode="markers",
                marker={
                    "symbol": "diamond-open",
                    "size": 12,
                    "color": PREVIOUS,
                    "line": {"width": 2},
                },
                name="Previous period",
                text=[shown(value, kind) for value in previous],
                hoverinfo="y+text",
            )
        )
    layout = {
        "yaxis": {"autorange": "reversed"},
        "xaxis": _axis(kind, [*now, *before, _float(median)]),
        "showlegend": previous is not None,
    }
    if median is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": float(median),
                "x1": float(median),
                "y0": 0,
                "y1": 1,
                "line": {"color": INK, "dash": "dash", "width": 2},
            }
        ]
        layout["annotations"] = [
            {
                "x": float(median),
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"{median_label} {shown(median, kind)}",
                "font": {"color": MUTED, "size": 12},
            }
        ]
    parts = [f"{label} {shown(value, kind)}" for label, value in zip(labels, values, strict=True)]
    summary = f"{title}: " + ("; ".join(parts) if parts else "no one in this scope")
    if median is not None:
        summary += f"; {median_label.lower()} {shown(median, kind)}"
    layout["margin"] = {"l": 64, "r": 16, "t": 40, "b": 48}
    return _chart(
        dom_id, title, summary + ".", traces, layout, height=max(220, 40 * len(labels) + 110)
    )
