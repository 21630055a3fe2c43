"""Plotly figures of the reports, built in Python and drawn by the page with ``Plotly.newPlot``.

Each builder takes figures a runner computed (no queries here) and returns a
``Chart``: the figure as plain JSON, a heading and a one-sentence summary that
the page gives screen readers as the chart's text alternative. Colours come
from the Okabe-Ito palette, which stays distinguishable with colour-blindness;
no meaning rests on colour alone (legends, labels and tables say it too).
"""

import datetime
import functools
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

INK = "#1b2430"
MUTED = "#4a5565"
GRID = "#e3e8ef"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'

METHOD_LABELS = {
    "pipeline": "Pipeline",
    "best_case": "Best case",
    "commit": "Commit",
    "weighted": "Weighted",
    "model": "Model",
}
METHOD_COLOURS = {
    "pipeline": "#56B4E9",
    "best_case": "#009E73",
    "commit": "#0072B2",
    "weighted": "#E69F00",
    "model": "#AA3377",
}
HORIZON_COLOURS = {30: "#0072B2", 60: "#E69F00", 90: "#009E73"}
WON = "#0072B2"
ACTUAL = "#000000"

TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": FONT, "size": 13, "color": INK},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(METHOD_COLOURS.values()),
        "margin": {"l": 64, "r": 16, "t": 16, "b": 48},
        "legend": {"orientation": "h", "y": -0.2, "x": 0, "font": {"size": 12}},
        "xaxis": {"gridcolor": GRID, "linecolor": MUTED, "zerolinecolor": GRID, "automargin": True},
        "yaxis": {
            "gridcolor": GRID,
            "linecolor": MUTED,
            "zerolinecolor": MUTED,
            "automargin": True,
        },
        "hoverlabel": {"font": {"family": FONT}},
        "separators": ".,",
    }
)


@dataclass(frozen=True)
class Chart:
    """A figure ready for a page: ``dom_id`` names its div and its JSON script."""

    dom_id: str
    title: str
    summary: str
    figure: dict

    @property
    def data_id(self) -> str:
        return f"{self.dom_id}-data"


# Building a figure (Plotly validates every property) costs several ms a chart; a dashboard
# redraws the same figures from the same snapshots request after request. So each chart
# function keeps its last answers, keyed by its inputs as JSON: only plain values (numbers,
# text, dates, decimals) make a key, anything else is built afresh. Charts are read-only.
_MEMO_SIZE = 256
_memo: OrderedDict[str, "Chart"] = OrderedDict()
_memo_lock = threading.Lock()


def _plain(value):
    if isinstance(value, datetime.date):  # a datetime too
        return f"{type(value).__name__}:{value.isoformat()}"
    if isinstance(value, Decimal):
        return f"Decimal:{value}"
    raise TypeError(f"not a plain value: {type(value).__name__}")


def _memoised(build):
    @functools.wraps(build)
    def chart(*args, **kwargs):
        try:
            key = json.dumps([build.__name__, args, kwargs], sort_keys=True, default=_plain)
        except (TypeError, ValueError):
            return build(*args, **kwargs)
        with _memo_lock:
            found = _memo.get(key)
            if found is not None:
                _memo.move_to_end(key)
                return found
        made = build(*args, **kwargs)
        with _memo_lock:
            _memo[key] = made
            while len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)
        return made

    return chart


_TEMPLATE_JSON = TEMPLATE.to_plotly_json()


def figure_json(traces: list, layout: dict, height: int) -> dict:
    """The figure of ``traces`` (Plotly trace objects, validated when they were made) and ``layout``
    (validated here) in the shared template, as the plain JSON the page draws.

    What ``go.Figure(...).to_json()`` gives, without its second pass: the figure validated every
    trace again and the template's every property on each chart (about two thirds of building a
    chart, 40 of 60 ms for a rep's eight insight charts). Through JSON, Plotly's encoder turns every
    value (dates, decimals) into what the browser expects.
    """
    checked = go.Layout({"height": height, **layout}).to_plotly_json()
    data = [trace.to_plotly_json() for trace in traces]
    return json.loads(
        to_json_plotly({"data": data, "layout": {**checked, "template": _TEMPLATE_JSON}})
    )


def _chart(
    dom_id: str, title: str, summary: str, traces: list, layout: dict, height: int = 320
) -> Chart:
    return Chart(
        dom_id=dom_id, title=title, summary=summary, figure=figure_json(traces, layout, height)
    )


def money(value) -> str:
    """A money figure as the charts' text shows it: whole units with thousands separators."""
    if value is None:
        return "n/a"
    return f"{Decimal(value):,.0f}"


def percent(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _float(value) -> float | None:
    return None if value is None else float(value)


def _tick_text(value: float) -> str:
    """A money tick: plain below a thousand, then k, M and B (never Plotly's SI milli "m")."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _money_axis(values) -> dict:
    """A value axis from zero (or below) with about five round ticks covering ``values``, labelled by ``_tick_text``.

    Money is in whole units, so the step is at least 1: an empty or all-zero
    chart reads 0 and 1, not 0 to 1 in fifths.
    """
    known = [v for v in values if v is not None]
    low, high = min([0.0, *known]), max([0.0, *known])
    span = max(high - low, 1.0) * 1.02
    magnitude = 10 ** math.floor(math.log10(span / 5))
    step = max(1.0, next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= span / 5))
    first, last = math.floor(low / step), math.ceil(high * 1.02 / step)
    ticks = [n * step for n in range(first, max(last, first + 1) + 1)]
    return {
        "tickmode": "array",
        "tickvals": ticks,
        "ticktext": [_tick_text(t) for t in ticks],
        "range": [ticks[0], ticks[-1]],
    }


@_memoised
def funnel_chart(dom_id: str, pipeline_name: str, stages: list[dict]) -> Chart:
    """One pipeline's open stages: deals that entered each (with the share that advanced) and days spent there."""
    names = [stage["name"] for stage in stages]
    entered = [stage["entered"] for stage in stages]
    labels = [f"{stage['entered']:,} ({percent(stage['conversion'])})" for stage in stages]
    days = [_float(stage["avg_days_in_stage"]) for stage in stages]
    # Two panels side by side on one shared stage axis, laid out by hand (make_subplots is slow).
    traces = [
        go.Funnel(
            y=names,
            x=entered,
            text=labels,
            textinfo="text",
            textposition="inside",
            insidetextfont={"color": "#ffffff"},
            marker={"color": WON},
            connector={"fillcolor": "#cfe3f3"},
            name="Entered",
            customdata=[percent(stage["conversion"]) for stage in stages],
            hovertemplate="%{y}: %{x:,} entered, %{customdata} advanced<extra></extra>",
        ),
        go.Bar(
            y=names,
            x=days,
            xaxis="x2",
            orientation="h",
            marker={"color": "#E69F00"},
            text=[f"{d:.1f} d" if d is not None else "n/a" for d in days],
            textposition="auto",
            name="Days in stage",
            hovertemplate="%{y}: %{x:.1f} days<extra></extra>",
        ),
    ]
    panel_title = {
        "xref": "paper",
        "yref": "paper",
        "y": 1.0,
        "yanchor": "bottom",
        "showarrow": False,
        "xanchor": "center",
        "font": {"size": 13, "color": MUTED},
    }
    layout = {
        "showlegend": False,
        "margin": {"t": 36},
        "xaxis": {
            "domain": [0, 0.62],
            "showticklabels": False,
            "showgrid": False,
            "zeroline": False,
        },
        "xaxis2": {
            "domain": [0.68, 1],
            "anchor": "y",
            "title": {"text": "days"},
            "range": [0, max([1.0, *(d * 1.1 for d in days if d is not None)])],
            "tickformat": ",~r",
            "gridcolor": GRID,
            "linecolor": MUTED,
            "automargin": True,
        },
        "yaxis": {"autorange": "reversed"},
        "annotations": [
            {**panel_title, "text": "Deals entering each stage (share that advanced)", "x": 0.31},
            {**panel_title, "text": "Average days in stage", "x": 0.84},
        ],
    }
    if any(entered):
        best = max(stages, key=lambda s: s["entered"])
        summary = (
            f"Funnel of {pipeline_name}: "
            + "; ".join(
                f"{s['name']} {s['entered']:,} entered, {percent(s['conversion'])} advanced, "
                f"{'n/a' if s['avg_days_in_stage'] is None else format(s['avg_days_in_stage'], '.1f')} days in stage"
                for s in stages
            )
            + f". Most deals entered {best['name']}."
        )
    else:
        summary = f"Funnel of {pipeline_name}: no deal entered a stage in this period."
    return _chart(
        dom_id,
        f"Funnel: {pipeline_name}",
        summary,
        traces,
        layout,
        height=max(240, 56 * len(stages) + 80),
    )


@_memoised
def forecast_chart(dom_id: str, forecasts: list[dict]) -> Chart:
    """Each forecast method per horizon, the model with its P10-P90 range, and the quota as a marker."""
    horizons = [f"{f['horizon']} days" for f in forecasts]
    traces = []
    for method, label in METHOD_LABELS.items():
        values = [_float(f[method]) for f in forecasts]
        bar = {
            "x": horizons,
            "y": values,
            "name": label,
            "marker": {"color": METHOD_COLOURS[method]},
            "hovertemplate": f"{label}, %{{x}}: %{{y:,.0f}}<extra></extra>",
        }
        if method == "model":
            bar["error_y"] = {
                "type": "data",
                "symmetric": False,
                "array": [_float(f["model_p90"] - f["model"]) for f in forecasts],
                "arrayminus": [_float(f["model"] - f["model_p10"]) for f in forecasts],
                "color": INK,
                "thickness": 1.5,
                "width": 6,
            }
            bar["name"] = "Model (P10-P90)"
            bar["customdata"] = [
                [_float(f["model_p10"]), _float(f["model_p90"])] for f in forecasts
            ]
            bar["hovertemplate"] = (
                "Model, %{x}: %{y:,.0f} (P10 %{customdata[0]:,.0f}, P90 %{customdata[1]:,.0f})<extra></extra>"
            )
        traces.append(go.Bar(**bar))
    quotas = [_float(f["quota"]) for f in forecasts]
    if any(q is not None for q in quotas):
        traces.append(
            go.Scatter(
                x=horizons,
                y=quotas,
                mode="markers",
                name="Quota",
                marker={"symbol": "line-ew", "size": 64, "line": {"width": 3, "color": ACTUAL}},
                hovertemplate="Quota, %{x}: %{y:,.0f}<extra></extra>",
            )
        )
    layout = {
        "barmode": "group",
        "bargap": 0.25,
        "yaxis": _money_axis(
            [_float(f[key]) for f in forecasts for key in (*METHOD_LABELS, "model_p90", "quota")]
        ),
    }
    parts = []
    for f in forecasts:
        quota = "no quota" if f["quota"] is None else f"quota {money(f['quota'])}"
        parts.append(
            f"next {f['horizon']} days: commit {money(f['commit'])}, weighted {money(f['weighted'])}, "
            f"model {money(f['model'])} (P10 {money(f['model_p10'])} to P90 {money(f['model_p90'])}), {quota}"
        )
    summary = "Forecast: " + "; ".join(parts) + "."
    return _chart(dom_id, "Forecast against quota", summary, traces, layout, height=360)


@_memoised
def won_by_month_chart(dom_id: str, points: list[dict]) -> Chart:
    """Won value per month, with the number of deals won in the hover."""
    months = [p["bucket"].isoformat() for p in points]
    traces = [
        go.Bar(
            x=months,
            y=[_float(p["won_value"]) for p in points],
            customdata=[p["won_deals"] for p in points],
            marker={"color": WON},
            name="Won value",
            hovertemplate="%{x|%B %Y}: %{y:,.0f} from %{customdata:,} deals<extra></extra>",
        )
    ]
    layout = {
        "xaxis": {
            "type": "date",
            "tickformat": "%b<br>%Y",
            "dtick": "M1" if len(points) <= 12 else "M3",
            "tickangle": 0,
        },
        "yaxis": _money_axis([_float(p["won_value"]) for p in points]),
        "showlegend": False,
    }
    total = sum((p["won_value"] for p in points), Decimal("0"))
    if points and total:
        best = max(points, key=lambda p: p["won_value"])
        summary = (
            f"Won value by month from {points[0]['bucket']:%B %Y} to {points[-1]['bucket']:%B %Y}: "
            f"{money(total)} in all; the best month was {best['bucket']:%B %Y} with {money(best['won_value'])}."
        )
    else:
        summary = "Won value by month: nothing was won in these months."
    return _chart(dom_id, "Won value by month", summary, traces, layout)


@_memoised
def accuracy_chart(dom_id: str, rows: list[dict], horizon: int) -> Chart:
    """Past forecasts of one horizon against what was then won, one line per method."""
    dates = [r["as_of"].isoformat() for r in rows]
    traces = [
        go.Scatter(
            x=dates,
            y=[_float(r["actual"]) for r in rows],
            name="Actual won",
            mode="lines+markers",
            line={"color": ACTUAL, "width": 3},
            marker={"size": 5},
            hovertemplate="Actual from %{x|%d %b %Y}: %{y:,.0f}<extra></extra>",
        )
    ]
    dashes = {
        "pipeline": "dot",
        "best_case": "dash",
        "commit": "solid",
        "weighted": "dashdot",
        "model": "longdash",
    }
    for method, label in METHOD_LABELS.items():
        traces.append(
            go.Scatter(
                x=dates,
                y=[_float(r["methods"][method]["forecast"]) for r in rows],
                name=label,
                mode="lines",
                line={"color": METHOD_COLOURS[method], "width": 2, "dash": dashes[method]},
                hovertemplate=f"{label} from %{{x|%d %b %Y}}: %{{y:,.0f}}<extra></extra>",
            )
        )
    plotted = [_float(r["actual"]) for r in rows] + [
        _float(r["methods"][m]["forecast"]) for r in rows for m in METHOD_LABELS
    ]
    layout = {"xaxis": {"type": "date"}, "yaxis": _money_axis(plotted)}
    summary = (
        f"{horizon}-day forecasts made from {rows[0]['as_of']:%d %B %Y} to {rows[-1]['as_of']:%d %B %Y} "
        f"({len(rows)} in all) against the value actually won in each window."
    )
    return _chart(
        dom_id,
        f"Forecast against actual ({horizon}-day windows)",
        summary,
        traces,
        layout,
        height=340,
    )


@_memoised
def mape_chart(dom_id: str, summary_rows: list[dict]) -> Chart:
    """Mean absolute percentage error of each method, one bar group per method and a bar per horizon."""
    traces = []
    methods = list(METHOD_LABELS)
    for row in summary_rows:
        horizon = row["horizon"]
        traces.append(
            go.Bar(
                x=[METHOD_LABELS[m] for m in methods],
                y=[row["methods"][m]["mape"] for m in methods],
                name=f"{horizon} days",
                marker={"color": HORIZON_COLOURS.get(horizon, MUTED)},
                hovertemplate=f"%{{x}}, {horizon} days: %{{y:.0%}} mean error<extra></extra>",
            )
        )
    layout = {"barmode": "group", "yaxis": {"tickformat": ".0%", "rangemode": "tozero"}}
    parts = []
    for row in summary_rows:
        known = {m: v["mape"] for m, v in row["methods"].items() if v["mape"] is not None}
        if known:
            best = min(known, key=known.get)
            parts.append(
                f"at {row['horizon']} days the most accurate method was {METHOD_LABELS[best]} "
                f"({percent(known[best])} mean absolute error over {row['snapshots']} forecasts)"
            )
    summary = (
        "Forecast error by method: "
        + ("; ".join(parts) if parts else "no window with a win yet")
        + "."
    )
    return _chart(dom_id, "Mean absolute % error by method", summary, traces, layout)


# Where a calibrated P10-P90 range leaves the actual: 10% below, 80% inside, 10% above.
BAND_LABELS = {"below": "Below P10", "inside": "Inside P10-P90", "above": "Above P90"}
BAND_IDEAL = {"below": 0.1, "inside": 0.8, "above": 0.1}


@_memoised
def calibration_chart(dom_id: str, summary_rows: list[dict]) -> Chart:
    """Where the actuals of matured windows fell against the model's P10-P90 range, per horizon,
    beside the shares a calibrated range gives (10% below, 80% inside, 10% above).

    The snapshots keep the model's P10, expected value and P90, not its whole
    distribution, so the chart counts windows by band rather than drawing a PIT histogram.
    """
    bands = [BAND_LABELS[side] for side in BAND_LABELS]
    traces = [
        go.Bar(
            x=bands,
            y=[row["band"][side] for side in BAND_LABELS],
            name=f"{row['horizon']} days",
            marker={"color": HORIZON_COLOURS.get(row["horizon"], MUTED)},
            text=[percent(row["band"][side]) for side in BAND_LABELS],
            textposition="outside",
            customdata=[row["snapshots"]] * len(BAND_LABELS),
            hovertemplate=f"%{{x}}, {row['horizon']} days: %{{y:.0%}} of %{{customdata:,}} forecasts<extra></extra>",
        )
        for row in summary_rows
    ]
    traces.append(
        go.Scatter(
            x=bands,
            y=[BAND_IDEAL[side] for side in BAND_LABELS],
            mode="markers",
            name="Calibrated",
            marker={"symbol": "line-ew", "size": 96, "line": {"width": 3, "color": ACTUAL}},
            hovertemplate="%{x}, calibrated range: %{y:.0%}<extra></extra>",
        )
    )
    layout = {
        "barmode": "group",
        "bargap": 0.3,
        "yaxis": {"tickformat": ".0%", "range": [0, 1.1], "dtick": 0.2},
    }
    parts = [
        f"at {row['horizon']} days {percent(row['band']['below'])} below P10, "
        f"{percent(row['band']['inside'])} inside and {percent(row['band']['above'])} above P90 "
        f"(of {row['snapshots']:,} forecasts)"
        for row in summary_rows
    ]
    summary = (
        "Where the actual fell against the model's P10-P90 range: "
        + ("; ".join(parts) if parts else "no window has passed yet")
        + "; a calibrated range gives 10% below, 80% inside and 10% above."
    )
    return _chart(dom_id, "Is the model's P10-P90 range honest?", summary, traces, layout)


@_memoised
def pipeline_by_stage_chart(dom_id: str, rows: list[dict]) -> Chart:
    """Open value per stage (deal counts on the bars), first stage at the top."""
    pipelines = {row["pipeline__name"] for row in rows}
    labels = [
        f"{row['stage__name']} ({row['pipeline__name']})"
        if len(pipelines) > 1
        else row["stage__name"]
        for row in rows
    ]
    traces = [
        go.Bar(
            y=labels,
            x=[_float(row["value"]) for row in rows],
            orientation="h",
            marker={"color": WON},
            text=[f"{row['deals']:,} {'deal' if row['deals'] == 1 else 'deals'}" for row in rows],
            textposition="auto",
            name="Open value",
            hovertemplate="%{y}: %{x:,.0f}<extra></extra>",
        )
    ]
    layout = {
        "yaxis": {"autorange": "reversed"},
        "xaxis": _money_axis([_float(row["value"]) for row in rows]),
        "showlegend": False,
    }
    if rows:
        summary = (
            "My open pipeline by stage: "
            + "; ".join(
                f"{label} {row['deals']:,} deals worth {money(row['value'])}"
                for label, row in zip(labels, rows, strict=True)
            )
            + "."
        )
    else:
        summary = "My open pipeline by stage: no open deals."
    return _chart(
        dom_id,
        "My pipeline by stage",
        summary,
        traces,
        layout,
        height=max(220, 44 * len(rows) + 70),
    )


TARGET = "#D55E00"


@_memoised
def gap_chart(dom_id: str, gap: dict) -> Chart:
    """Won to date, week by week, against the target line, and the model's range from today to the forecast's end."""
    today, start = gap["today"], gap["start"]
    days = [start]
    won = [0.0]
    running = Decimal("0")
    for point in gap["won_by_week"]:
        running += point["won_value"]
        days.append(min(point["week"] + datetime.timedelta(days=7), today))
        won.append(float(running))
    end = min(gap["forecast_end"], gap["end"])
    base = float(gap["won"])
    traces = [
        go.Scatter(
            x=[d.isoformat() for d in days],
            y=won,
            mode="lines",
            line={"color": WON, "width": 3, "shape": "hv"},
            name="Won to date",
            hovertemplate="%{x|%-d %b}: %{y:,.0f} won<extra></extra>",
        ),
        go.Scatter(
            x=[today.isoformat(), end.isoformat()],
            y=[base, base + float(gap["model_p10"])],
            mode="lines",
            line={"color": METHOD_COLOURS["model"], "width": 0},
            showlegend=False,
            hoverinfo="skip",
        ),
        go.Scatter(
            x=[today.isoformat(), end.isoformat()],
            y=[base, base + float(gap["model_p90"])],
            mode="lines",
            fill="tonexty",
            fillcolor="rgba(170, 51, 119, 0.18)",
            line={"color": METHOD_COLOURS["model"], "width": 0},
            name="Model P10–P90",
            hoverinfo="skip",
        ),
        go.Scatter(
            x=[today.isoformat(), end.isoformat()],
            y=[base, base + float(gap["model"])],
            mode="lines",
            line={"color": METHOD_COLOURS["model"], "dash": "dash"},
            name="Model forecast",
            hovertemplate="%{x|%-d %b}: %{y:,.0f} expected<extra></extra>",
        ),
    ]
    values = [*won, base + float(gap["model_p90"])]
    if gap["target"] is not None:
        traces.append(
            go.Scatter(
                x=[start.isoformat(), gap["last_day"].isoformat()],
                y=[float(gap["target"])] * 2,
                mode="lines",
                line={"color": TARGET, "dash": "dot", "width": 2},
                name="Target",
                hovertemplate="Target: %{y:,.0f}<extra></extra>",
            )
        )
        values.append(float(gap["target"]))
        summary = (
            f"Won to date {money(gap['won'])} against a target of {money(gap['target'])}; the model expects "
            f"{money(gap['model'])} more by {end:%-d %B} (P10 {money(gap['model_p10'])}, P90 {money(gap['model_p90'])})."
        )
    else:
        summary = f"Won to date {money(gap['won'])}; no target applies to this scope."
    layout = {
        "xaxis": {
            "type": "date",
            "range": [start.isoformat(), gap["last_day"].isoformat()],
            "tickformat": "%-d %b",
        },
        "yaxis": _money_axis(values),
    }
    return _chart(dom_id, "Won to date against the target", summary, traces, layout)
