"""The budget page's chart: budget and actual spend by month, and the variance between them."""

import plotly.graph_objects as go

from reports.charts import ACTUAL, WON, Chart, _chart, _float, _money_axis, money


def budget_chart(dom_id: str, figures: dict) -> Chart:
    months = [row["month"].isoformat() for row in figures["months"]]
    budget = [_float(row["budget"]) for row in figures["months"]]
    actual = [_float(row["actual"]) for row in figures["months"]]
    variance = [_float(row["variance"]) for row in figures["months"]]
    traces = [
        go.Bar(x=months, y=budget, name="Budget", marker={"color": WON},
               hovertemplate="%{x|%B %Y}: budget %{y:,.0f}<extra></extra>"),
        go.Bar(x=months, y=actual, name="Actual", marker={"color": "#E69F00"},
               hovertemplate="%{x|%B %Y}: actual %{y:,.0f}<extra></extra>"),
        go.Scatter(x=months, y=variance, name="Variance (budget - actual)", mode="lines+markers",
                   line={"color": ACTUAL}, hovertemplate="%{x|%B %Y}: variance %{y:,.0f}<extra></extra>"),
    ]  # fmt: skip
    layout = {
        "barmode": "group",
        "xaxis": {"type": "date", "tickformat": "%b", "dtick": "M1", "tickangle": 0},
        "yaxis": _money_axis(budget + actual + variance),
    }
    totals = figures["totals"]
    summary = (
        f"Budget and actual spend by month of {figures['year']}: a budget of {money(totals['budget'])} "
        f"for the year; to date {money(totals['actual'])} spent against {money(totals['budget_to_date'])} "
        f"budgeted, a variance of {money(totals['variance_to_date'])}."
    )
    return _chart(dom_id, "Budget and actual by month", summary, traces, layout)
