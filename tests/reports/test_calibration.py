"""The model band's calibration: the share of matured windows whose actual lay inside P10-P90."""

import datetime
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.scopes import Scope
from reports.charts import calibration_chart
from reports.models import ForecastSnapshot
from reports.runners import AccuracyRunner
from reports.selectors import accuracy_summary, matured_forecasts

# (days before today, horizon, P10, P90, actual): a hand-built set of matured 30- and 60-day forecasts.
WINDOWS = [
    (100, 30, 800, 1200, 1000),  # inside
    (93, 30, 800, 1200, 800),  # on P10: inside
    (86, 30, 800, 1200, 1200),  # on P90: inside
    (79, 30, 800, 1200, 799),  # below
    (72, 30, 800, 1200, 1500),  # above
    (100, 60, 1000, 3000, 2000),  # inside
    (93, 60, 1000, 3000, 500),  # below
    (86, 60, 1000, 3000, 0),  # below
    (79, 60, 1000, 3000, 3001),  # above
]


@pytest.fixture
def matured(db, manager):
    scope = Scope(team=manager.pk)
    today = timezone.localdate()
    for days, horizon, p10, p90, actual in WINDOWS:
        ForecastSnapshot.objects.create(
            scope_key=scope.key,
            scope_kind="team",
            as_of=today - datetime.timedelta(days=days),
            horizon=horizon,
            pipeline=0,
            best_case=0,
            commit=0,
            weighted=0,
            model=Decimal(p10 + p90) / 2,
            model_p10=p10,
            model_p90=p90,
            overdue_value=0,
            won_in_window=0,
            actual=actual,
            computed_at=timezone.now(),
        )
    # A window not yet passed has no actual and counts nowhere.
    ForecastSnapshot.objects.create(
        scope_key=scope.key,
        scope_kind="team",
        as_of=today - datetime.timedelta(days=10),
        horizon=30,
        pipeline=0,
        best_case=0,
        commit=0,
        weighted=0,
        model=0,
        model_p10=0,
        model_p90=0,
        overdue_value=0,
        won_in_window=0,
        computed_at=timezone.now(),
    )
    return scope


def test_the_band_calibration_counts_matured_windows_below_inside_and_above(matured):
    summary = {row["horizon"]: row for row in accuracy_summary(matured_forecasts(matured))}
    # 30 days: 1,000, 800 (on P10) and 1,200 (on P90) inside; 799 below; 1,500 above.
    assert summary[30]["snapshots"] == 5
    assert summary[30]["band"] == {"below": 0.2, "inside": 0.6, "above": 0.2}
    # 60 days: 2,000 inside; 500 and 0 below; 3,001 above.
    assert summary[60]["snapshots"] == 4
    assert summary[60]["band"] == {"below": 0.5, "inside": 0.25, "above": 0.25}


def test_the_accuracy_api_reports_the_band_calibration(matured, manager, client_for):
    body = (
        client_for(manager)
        .get("/api/v1/forecasts/accuracy/", {"scope": "team", "scope_id": manager.pk})
        .json()
    )
    bands = {row["horizon"]: row["band"] for row in body["summary"]}
    assert bands == {
        30: {"below": 0.2, "inside": 0.6, "above": 0.2},
        60: {"below": 0.5, "inside": 0.25, "above": 0.25},
    }


def test_the_dashboard_shows_the_band_calibration_as_a_table(matured, manager, client):
    client.force_login(manager)
    page = client.get("/dashboard/", {"scope": "team", "scope_id": manager.pk}).content.decode()
    assert "Is the model's P10-P90 range honest?" in page
    table = page[page.index("calibration-title") :]
    table = " ".join(table[: table.index("</table>")].split())
    assert (
        '30 days</th> <td class="num">5</td> <td class="num">20%</td> <td class="num">60%</td> <td class="num">20%</td>'
        in table
    )
    assert (
        '60 days</th> <td class="num">4</td> <td class="num">50%</td> <td class="num">25%</td> <td class="num">25%</td>'
        in table
    )


def test_the_accuracy_runner_gives_the_band_calibration_in_two_queries(
    matured, django_assert_num_queries
):
    with django_assert_num_queries(2):
        result = AccuracyRunner(matured).run()
    bands = {row["horizon"]: (row["snapshots"], row["band"]) for row in result["summary"]}
    assert bands == {
        30: (5, {"below": 0.2, "inside": 0.6, "above": 0.2}),
        60: (4, {"below": 0.5, "inside": 0.25, "above": 0.25}),
    }
    # A horizon asked alone counts only its own windows.
    assert [row["band"] for row in AccuracyRunner(matured, horizon=60).run()["summary"]] == [
        {"below": 0.5, "inside": 0.25, "above": 0.25}
    ]


def test_the_calibration_chart_sets_each_horizons_shares_beside_the_calibrated_ones(matured):
    chart = calibration_chart("chart-calibration", AccuracyRunner(matured).run()["summary"])
    bars = [trace for trace in chart.figure["data"] if trace["type"] == "bar"]
    assert [bar["name"] for bar in bars] == ["30 days", "60 days"]
    assert all(bar["x"] == ["Below P10", "Inside P10-P90", "Above P90"] for bar in bars)
    assert [bar["y"] for bar in bars] == [[0.2, 0.6, 0.2], [0.5, 0.25, 0.25]]
    assert [bar["customdata"] for bar in bars] == [[5, 5, 5], [4, 4, 4]]
    (ideal,) = [trace for trace in chart.figure["data"] if trace["type"] == "scatter"]
    assert ideal["y"] == [0.1, 0.8, 0.1]
    assert chart.summary == (
        "Where the actual fell against the model's P10-P90 range: "
        "at 30 days 20% below P10, 60% inside and 20% above P90 (of 5 forecasts); "
        "at 60 days 50% below P10, 25% inside and 25% above P90 (of 4 forecasts); "
        "a calibrated range gives 10% below, 80% inside and 10% above."
    )


def chart_data(page: str, dom_id: str) -> dict:
    start = page.index(f'<script id="{dom_id}-data" type="application/json">')
    start = page.index(">", start) + 1
    return json.loads(page[start : page.index("</script>", start)])


def test_the_dashboard_draws_the_calibration_chart_of_the_scope(matured, manager, client):
    client.force_login(manager)
    page = client.get("/dashboard/", {"scope": "team", "scope_id": manager.pk}).content.decode()
    assert 'id="chart-calibration"' in page
    figure = chart_data(page, "chart-calibration")
    assert [trace["y"] for trace in figure["data"]] == [
        [0.2, 0.6, 0.2],
        [0.5, 0.25, 0.25],
        [0.1, 0.8, 0.1],
    ]


@pytest.mark.parametrize("who", ["rep", "outsider"])
def test_a_rep_sees_no_calibration_of_the_teams_forecasts(matured, who, rep, outsider, client):
    client.force_login({"rep": rep, "outsider": outsider}[who])
    page = client.get("/dashboard/", {"scope": "team", "scope_id": matured.team}).content.decode()
    assert 'id="chart-calibration"' not in page
    assert "calibration-title" not in page
