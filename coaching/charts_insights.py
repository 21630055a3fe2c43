"""Plotly figures of the insights page: one per metric, the rep beside the team's median.

The team's bar carries its interquartile range as an error bar (Q1 to Q3), so
a rep outside the whiskers stands out from the usual spread. Built from the
figures ``coaching.insights`` computed (no queries here); drawn lazily by the
page script as the dashboard's are.
"""

import plotly.graph_objects as go

from reports.charts import WON, Chart, figure_json

TEAM = "#E69F00"
FORMATS = {"ratio": ".0%", "money": ",.0f", "days": ".1f", "times": ".2f", "count": ",.0f"}
UNITS = {"days": " days", "times": "×"}


def _figure(
    dom_id: str, title: str, summary: str, traces: list, layout: dict, height: int = 300
) -> Chart:
    return Chart(
        dom_id=dom_id, title=title, summary=summary, figure=figure_json(traces, layout, height)
    )


def _text(value, kind: str) -> str:
    if value is None:
        return "n/a"
    return f"{float(value):{FORMATS[kind]}}{UNITS.get(kind, '')}"


def _whiskers(spreads: list[dict]) -> dict:
    """Asymmetric error bars from each median down to Q1 and up to Q3 (none where the team has no figure)."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [None if s["median"] is None else s["q3"] - s["median"] for s in spreads],
        "arrayminus": [None if s["median"] is None else s["median"] - s["q1"] for s in spreads],
        "color": "#1b2430",
        "thickness": 1.5,
    }


def _team_words(spread: dict, kind: str) -> str:
    if spread["median"] is None:
        return "the team has no figure"
    return (
        f"team median {_text(spread['median'], kind)} (middle half {_text(spread['q1'], kind)} to "
        f"{_text(spread['q3'], kind)}, {spread['reps']} reps)"
    )


def metric_chart(dom_id: str, metric: dict, rep_name: str) -> Chart:
    """One figure: the rep's bar and the team median's with its interquartile range."""
    kind, team = metric["kind"], metric["team"]
    rep_value = None if metric["rep"] is None else float(metric["rep"])
    traces = [
        go.Bar(
            x=[rep_name],
            y=[rep_value],
            name=rep_name,
            marker={"color": WON},
            text=[_text(rep_value, kind)],
            textposition="inside",
            insidetextanchor="start",
            hovertemplate=f"%{{x}}: %{{y:{FORMATS[kind]}}}<extra></extra>",
        ),
        go.Bar(
            x=["Team median"],
            y=[team["median"]],
            name="Team median (Q1–Q3)",
            marker={"color": TEAM},
            error_y=_whiskers([team]),
            text=[_text(team["median"], kind)],
            textposition="inside",
            insidetextanchor="start",
            hovertemplate=f"Team median: %{{y:{FORMATS[kind]}}}<extra></extra>",
        ),
    ]
    layout = {
        "yaxis": {"tickformat": FORMATS[kind], "rangemode": "tozero"},
        "showlegend": False,
        "bargap": 0.4,
    }
    summary = f"{metric['label']}: {rep_name} {_text(rep_value, kind)}; {_team_words(team, kind)}."
    return _figure(dom_id, metric["label"], summary, traces, layout, height=260)


def stage_labels(stages: list[dict]) -> list[str]:
    """Stage names, with their pipeline's when the stages come from more than one."""
    several = len({stage["pipeline"] for stage in stages}) > 1
    return [f"{s['name']} ({s['pipeline_name']})" if several else s["name"] for s in stages]


def stage_chart(
    dom_id: str, title: str, stages: list[dict], key: str, kind: str, rep_name: str
) -> Chart:
    """Per open stage, first at the top: the rep's figure ``key`` beside the team median's with its
    interquartile range (horizontal bars, so long stage names stay readable)."""
    names = stage_labels(stages)
    rep_values = [stage["rep"][key] for stage in stages]
    spreads = [stage["team"][key] for stage in stages]
    traces = [
        go.Bar(
            y=names,
            x=rep_values,
            orientation="h",
            name=rep_name,
            marker={"color": WON},
            hovertemplate=f"%{{y}}: %{{x:{FORMATS[kind]}}}<extra>{rep_name}</extra>",
        ),
        go.Bar(
            y=names,
            x=[s["median"] for s in spreads],
            orientation="h",
            name="Team median (Q1–Q3)",
            marker={"color": TEAM},
            error_x=_whiskers(spreads),
            hovertemplate=f"%{{y}}: %{{x:{FORMATS[kind]}}}<extra>Team median</extra>",
        ),
    ]
    layout = {
        "barmode": "group",
        "yaxis": {"autorange": "reversed"},
        "xaxis": {"tickformat": FORMATS[kind], "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.12, "x": 0},
    }
    if stages:
        summary = (
            f"{title}: "
            + "; ".join(
                f"{name} {rep_name} {_text(value, kind)}, {_team_words(spread, kind)}"
                for name, value, spread in zip(names, rep_values, spreads, strict=True)
            )
            + "."
        )
    else:
        summary = f"{title}: no deal entered a stage in this period."
    return _figure(dom_id, title, summary, traces, layout, height=max(260, 56 * len(stages) + 110))


def activity_mix_chart(dom_id: str, mix: list[dict], rep_name: str) -> Chart:
    """Each kind's share of the rep's activities beside the team median's share."""
    labels = [row["label"] for row in mix]
    spreads = [row["team"] for row in mix]
    traces = [
        go.Bar(
            x=labels,
            y=[row["rep"] for row in mix],
            name=rep_name,
            marker={"color": WON},
            customdata=[row["count"] for row in mix],
            hovertemplate="%{x}: %{y:.0%} (%{customdata:,})<extra>" + rep_name + "</extra>",
        ),
        go.Bar(
            x=labels,
            y=[s["median"] for s in spreads],
            name="Team median (Q1–Q3)",
            marker={"color": TEAM},
            error_y=_whiskers(spreads),
            hovertemplate="%{x}: %{y:.0%}<extra>Team median</extra>",
        ),
    ]
    layout = {"barmode": "group", "yaxis": {"tickformat": ".0%", "rangemode": "tozero"}}
    summary = (
        "Activity mix: "
        + "; ".join(
            f"{row['label']} {rep_name} {_text(row['rep'], 'ratio')} ({row['count']:,}), "
            f"{_team_words(row['team'], 'ratio')}"
            for row in mix
        )
        + "."
    )
    return _figure(dom_id, "Activity mix", summary, traces, layout)


def stage_charts(figures: dict) -> list[Chart]:
    """Conversion and days per stage, each a chart of its own."""
    rep_name, stages = figures["rep"]["name"], figures["stages"]
    return [
        stage_chart(
            "chart-conversion", "Conversion per stage", stages, "conversion", "ratio", rep_name
        ),
        stage_chart("chart-days", "Days in stage", stages, "avg_days_in_stage", "days", rep_name),
    ]


def metric_charts(figures: dict) -> list[Chart]:
    """A chart per scalar figure, then the activity mix."""
    rep_name = figures["rep"]["name"]
    charts = [
        metric_chart(f"chart-{metric['name']}", metric, rep_name) for metric in figures["metrics"]
    ]
    charts.append(activity_mix_chart("chart-activity-mix", figures["activity_mix"], rep_name))
    return charts
