"""The capacity plan's chart: reps needed by month against today's reps remaining and the ramped capacity.

Built from the plan (no queries); drawn lazily by the page script as the dashboard's charts are.
"""

import plotly.graph_objects as go

from coaching.hiring_capacity import CapacityPlan
from reports.charts import TARGET, WON, Chart, figure_json

NEEDED = TARGET
RETAINED = "#999999"


def capacity_chart(plan: CapacityPlan) -> Chart:
    months = [m.month.isoformat() for m in plan.months]
    traces = [
        go.Bar(
            x=months,
            y=[float(m.retained) for m in plan.months],
            name="Today's reps remaining",
            marker={"color": RETAINED},
            hovertemplate="%{x|%b %Y}: %{y:.1f} of today's reps<extra></extra>",
        ),
        go.Bar(
            x=months,
            y=[m.new_reps for m in plan.months],
            name="New reps",
            marker={"color": WON},
            hovertemplate="%{x|%b %Y}: %{y} new reps<extra></extra>",
        ),
        go.Scatter(
            x=months,
            y=[float(m.need) for m in plan.months],
            mode="lines+markers",
            name="Reps needed at 100%",
            line={"color": NEEDED, "width": 3},
            hovertemplate="%{x|%b %Y}: %{y:.2f} needed<extra></extra>",
        ),
        go.Scatter(
            x=months,
            y=[float(m.capacity) for m in plan.months],
            mode="lines",
            name="Capacity with the ramp",
            line={"color": NEEDED, "width": 2, "dash": "dot"},
            hovertemplate="%{x|%b %Y}: %{y:.2f} with the ramp<extra></extra>",
        ),
    ]
    layout = {
        "barmode": "stack",
        "xaxis": {"type": "date", "tickformat": "%b"},
        "yaxis": {"title": {"text": "Reps"}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.2, "x": 0},
    }
    peak = max(plan.months, key=lambda m: m.reps_needed) if plan.months else None
    summary = (
        f"{plan.inputs.headcount} reps today; {plan.hires} new reps needed over the year"
        + (f", {peak.reps_needed} reps at the peak in {peak.month:%B}" if peak else "")
        + f"; {plan.gap} positions to open."
    )
    return Chart(
        dom_id="chart-capacity",
        title="Reps needed by month",
        summary=summary,
        figure=figure_json(traces, layout, 320),
    )
