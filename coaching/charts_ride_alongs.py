"""Plotly figures of the skills history: one per skill, the rep's scores over time against the team's median.

Built from the figures ``coaching.ride_alongs.skills_history`` computed (no
queries here); drawn lazily by the page script as the dashboard's are. The
team's median is a step per quarter, so it reads as "the usual score then".
"""

import datetime

import plotly.graph_objects as go

from coaching.charts_insights import TEAM
from coaching.skills import SCORE_MAX, SCORE_MIN
from reports.charts import WON, Chart, figure_json

ROLLING = "#009E73"


def _quarter_end(start: datetime.date) -> datetime.date:
    following = datetime.date(start.year + (start.month + 2) // 12, (start.month + 2) % 12 + 1, 1)
    return following - datetime.timedelta(days=1)


def _words(skill: dict, rep_name: str, rolling_scorecards: int) -> str:
    if not skill["scores"]:
        own = f"{rep_name} has no score yet"
    else:
        own = (
            f"{rep_name} scored {len(skill['scores'])} time{'s' if len(skill['scores']) != 1 else ''},"
            f" latest {skill['latest']}, average of the last {rolling_scorecards} "
            f"{skill['rolling_average']:.2f}"
        )
    medians = [
        f"{q['quarter']} {q['team_median']:.1f}"
        for q in skill["quarters"]
        if q["team_median"] is not None
    ]
    team = "team median " + ", ".join(medians) if medians else "no team score"
    return f"{skill['label']}: {own}; {team}."


def skill_chart(dom_id: str, skill: dict, rep_name: str, rolling_scorecards: int) -> Chart:
    """The rep's scores (dots), their rolling average (line) and the team's quarterly median (steps)."""
    scores = skill["scores"]
    steps_x, steps_y = [], []
    for quarter in skill["quarters"]:
        steps_x += [quarter["start"].isoformat(), _quarter_end(quarter["start"]).isoformat(), None]
        steps_y += [quarter["team_median"], quarter["team_median"], None]
    traces = [
        go.Scatter(
            x=steps_x,
            y=steps_y,
            mode="lines",
            name="Team median (per quarter)",
            line={"color": TEAM, "width": 3, "dash": "dash"},
            hovertemplate="Team median: %{y:.1f}<extra></extra>",
        ),
        go.Scatter(
            x=[point["visited_on"].isoformat() for point in scores],
            y=[point["rolling_average"] for point in scores],
            mode="lines",
            name=f"Average of last {rolling_scorecards}",
            line={"color": ROLLING, "width": 2},
            hovertemplate="%{x|%d %b %Y}: average %{y:.2f}<extra></extra>",
        ),
        go.Scatter(
            x=[point["visited_on"].isoformat() for point in scores],
            y=[point["score"] for point in scores],
            mode="markers",
            name=rep_name,
            marker={"color": WON, "size": 9},
            hovertemplate="%{x|%d %b %Y}: %{y}<extra>" + rep_name + "</extra>",
        ),
    ]
    first = skill["quarters"][0]["start"] if skill["quarters"] else None
    last = _quarter_end(skill["quarters"][-1]["start"]) if skill["quarters"] else None
    layout = {
        "xaxis": {"type": "date", "range": [first.isoformat(), last.isoformat()]}
        if first
        else {"type": "date"},
        "yaxis": {
            "range": [SCORE_MIN - 0.5, SCORE_MAX + 0.5],
            "tickvals": list(range(SCORE_MIN, SCORE_MAX + 1)),
            "title": {"text": "Score"},
        },
        "legend": {"orientation": "h", "y": -0.22, "x": 0},
    }
    return Chart(
        dom_id=dom_id,
        title=skill["label"],
        summary=_words(skill, rep_name, rolling_scorecards),
        figure=figure_json(traces, layout, 300),
    )


def skill_charts(history: dict) -> list[Chart]:
    """A chart per skill, in the skills' order."""
    return [
        skill_chart(
            f"chart-skill-{skill['skill']}",
            skill,
            history["rep"]["name"],
            history["rolling_scorecards"],
        )
        for skill in history["skills"]
    ]
