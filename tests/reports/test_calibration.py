"""The model band's calibration: the share of matured windows whose actual lay inside P10-P90."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.scopes import Scope
from reports.models import ForecastSnapshot
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
    body = client_for(manager).get("/api/v1/forecasts/accuracy/", {"scope": "team", "scope_id": manager.pk}).json()
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
    assert '30 days</th> <td class="num">5</td> <td class="num">20%</td> <td class="num">60%</td> <td class="num">20%</td>' in table
    assert '60 days</th> <td class="num">4</td> <td class="num">50%</td> <td class="num">25%</td> <td class="num">25%</td>' in table
