"""Money axes read plainly below a thousand and in k, M and B above, never with Plotly's milli "m"."""

import datetime
import json
import re
from decimal import Decimal

import plotly.graph_objects as go
import pytest

from reports import charts


def _months(*values: str) -> list[dict]:
    return [
        {"bucket": datetime.date(2026, n + 1, 1), "won_value": Decimal(v), "won_deals": 1}
        for n, v in enumerate(values)
    ]


def _axis(chart: charts.Chart, name: str = "yaxis") -> dict:
    return chart.figure["layout"][name]


@pytest.mark.parametrize(
    ("values", "text"),
    [
        (("0", "0"), ["0", "1"]),
        (("0.40", "0.80"), ["0", "1"]),
        (("200", "800"), ["0", "200", "400", "600", "800", "1k"]),
        (("1200", "300"), ["0", "500", "1k", "1.5k"]),
        (("48000", "12000"), ["0", "10k", "20k", "30k", "40k", "50k"]),
        (("1250000", "90000"), ["0", "500k", "1M", "1.5M"]),
    ],
)
def test_won_by_month_ticks_are_plain_then_k_and_m(values, text):
    axis = _axis(charts.won_by_month_chart("chart-won", _months(*values)))
    assert axis["ticktext"] == text
    assert axis["tickmode"] == "array"
    assert len(axis["tickvals"]) == len(text)
    assert axis["range"] == [axis["tickvals"][0], axis["tickvals"][-1]]
    assert "tickformat" not in axis


def test_no_money_axis_uses_si_prefixes():
    forecasts = [
        {
            "horizon": h,
            **{m: Decimal("0.5") for m in charts.METHOD_LABELS},
            "model_p10": Decimal("0.2"),
            "model_p90": Decimal("0.9"),
            "quota": None,
        }
        for h in (30, 60, 90)
    ]
    stages = [
        {"stage__name": "Proposal", "pipeline__name": "New", "deals": 1, "value": Decimal("0.6")}
    ]
    figures = [
        _axis(charts.forecast_chart("chart-forecast", forecasts)),
        _axis(charts.won_by_month_chart("chart-won", _months("0.3"))),
        _axis(charts.pipeline_by_stage_chart("chart-stage", stages), "xaxis"),
    ]
    for axis in figures:
        assert axis.get("tickformat") != "~s"
        assert not any(re.search(r"\d[mµ]$", text) for text in axis["ticktext"])


def test_the_forecast_axis_reaches_the_top_of_the_model_band_and_the_quota():
    forecasts = [
        {
            "horizon": 30,
            **{m: Decimal("4000") for m in charts.METHOD_LABELS},
            "model_p10": Decimal("3000"),
            "model_p90": Decimal("6800"),
            "quota": Decimal("9100"),
        }
    ]
    axis = _axis(charts.forecast_chart("chart-forecast", forecasts))
    assert axis["ticktext"] == ["0", "2k", "4k", "6k", "8k", "10k"]


def test_a_chart_drawn_again_from_equal_inputs_is_the_one_already_built():
    first = charts.won_by_month_chart("chart-won", _months("1200", "3400"))
    again = charts.won_by_month_chart("chart-won", _months("1200", "3400"))
    other = charts.won_by_month_chart("chart-won", _months("1200", "3401"))
    renamed = charts.won_by_month_chart("chart-won-2", _months("1200", "3400"))
    assert again is first
    assert other is not first and other.figure != first.figure
    assert renamed is not first and renamed.dom_id == "chart-won-2"


def test_inputs_that_are_not_plain_values_are_drawn_afresh_each_time():
    stages = [{"name": "Qualification", "value": object(), "count": 1}]
    assert charts._memoised(lambda rows: rows[0]["name"])(stages) == "Qualification"
    assert charts._memoised(lambda day: day)(datetime.date(2026, 1, 2)) == datetime.date(2026, 1, 2)


def test_a_figure_is_what_plotlys_own_figure_gives_and_a_bad_layout_is_refused():
    traces = [
        go.Bar(x=["30 days", "60 days"], y=[Decimal("12.50"), 40], name="Commit"),
        go.Scatter(
            x=[datetime.date(2026, 1, 5), datetime.date(2026, 1, 12)],
            y=[1.5, None],
            mode="lines+markers",
            hovertemplate="%{x}: %{y}<extra></extra>",
        ),
    ]
    layout = {"barmode": "group", "yaxis": {"tickvals": [0, 20, 40], "title": {"text": "Value"}}}
    expected = go.Figure(
        data=traces, layout={"template": charts.TEMPLATE, "height": 320, **layout}
    ).to_json()
    assert charts.figure_json(traces, layout, 320) == json.loads(expected)
    # A layout's own height is kept, as Plotly's figure kept it.
    assert charts.figure_json(traces, {**layout, "height": 500}, 320)["layout"]["height"] == 500
    with pytest.raises(ValueError, match="Invalid property"):
        charts.figure_json(traces, {"barmdoe": "group"}, 320)
