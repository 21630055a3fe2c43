"""Team health against figures worked out by hand, who sees which teams, the query pin and exports.

Teams: Morgan Manager's (rep, rep2, and Sam Sub with subrep below), Sam Sub's
(subrep), Oscar Other's (outsider). The period is the last 30 days; every
time is noon of ``today + offset``. Quotas per day: rep 100, rep2 50,
subrep 100, outsider 200; managers have none, so their target is the roll-up:
Morgan 250 a day (7,500 in 30 days), Sam 100 (3,000), Oscar 200 (6,000).

rep:     W1 created -40, won -10, 1,000; O1 open since -35 in Qualification (stalled: 14-day
         limit), 1,500, expected +10
rep2:    O2 open since -5, 500, expected +40 (outside the next 30 days)
subrep:  W2 EUR 1,000 (rate 1.10) created -20, won -3; O3 open EUR 2,000 since -20 (stalled),
         expected +15
outsider: W3 created -20, won -6, 5,000

Morgan: won 2,100, attainment 28%, pipeline 3,700, coverage 0.4933, 3 open of which 2 stalled,
        new pipeline 500 + 1,100 + 2,200 = 3,800 in 3 deals, accuracy 90% (one forecast off by 10%)
Sam:    won 1,100, 36.67%, pipeline 2,200, 0.7333, 1 open 1 stalled, new 3,300 in 2 deals
Oscar:  won 5,000, 83.33%, pipeline 0, coverage 0, no open deal (no stalled share), new 5,000
"""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.http import QueryDict
from django.utils import timezone
from openpyxl import load_workbook

from pipeline.models import ExchangeRate
from pipeline.periods import Period
from pipeline.picker import Pick
from pipeline.scopes import Scope
from quotas.models import Quota
from reports.catalog import REPORTS
from reports.models import ForecastSnapshot
from tests.conftest import rollup_check
from tests.factories import UserFactory
from tests.reports.test_report_rep_scorecards import build_deals

SLUG = "team-health"
MORGAN, SAM, OSCAR = "Team of Morgan Manager", "Team of Sam Sub", "Team of Oscar Other"


@pytest.fixture
def submanager(manager):
    return UserFactory(username="submanager", role="manager", manager=manager, full_name="Sam Sub")


@pytest.fixture
def subrep(submanager):
    return UserFactory(username="subrep", manager=submanager, full_name="Sid Subrep")


@pytest.fixture
def world(admin, manager, rep, rep2, submanager, subrep, other_manager, outsider, pipeline, stages):
    today = timezone.localdate()
    ExchangeRate.objects.create(currency="EUR", valid_from="2000-01-01", rate=Decimal("1.10"))
    build_deals(admin, rep, stages, pipeline, [
        ("W1", "1000", -40, -10, "Won", -10, "pipeline"),
        ("O1", "1500", -35, None, "", 10, "pipeline"),
    ], today)  # fmt: skip
    build_deals(admin, rep2, stages, pipeline, [("O2", "500", -5, None, "", 40, "pipeline")], today)
    build_deals(admin, subrep, stages, pipeline, [
        ("W2", "1000", -20, -3, "Won", -3, "pipeline", "EUR"),
        ("O3", "2000", -20, None, "", 15, "pipeline", "EUR"),
    ], today)  # fmt: skip
    build_deals(
        admin, outsider, stages, pipeline, [("W3", "5000", -20, -6, "Won", -6, "pipeline")], today
    )
    first, last = today - datetime.timedelta(days=60), today + datetime.timedelta(days=29)
    for owner, target in ((rep, "9000"), (rep2, "4500"), (subrep, "9000"), (outsider, "18000")):
        Quota.objects.create(
            owner=owner, period_start=first, period_end=last, target=Decimal(target)
        )
    money = Decimal("900")
    ForecastSnapshot.objects.create(
        scope_key=Scope(team=manager.pk).key, scope_kind="team", as_of=today - datetime.timedelta(days=40),
        horizon=30, pipeline=money, best_case=money, commit=money, weighted=money, model=money,
        model_p10=money, model_p90=money, overdue_value=0, won_in_window=0, actual=Decimal("1000"),
        computed_at=timezone.now(),
    )  # fmt: skip
    return today


def build(user, scope, today, period=None):
    pick = Pick(kind="team", scope=scope, period=period or Period.named("30d", today))
    return REPORTS[SLUG].build_for_page(user, pick, today, QueryDict())


def by_team(result):
    return {row["team"]: row for row in result.rows}


def test_every_figure_matches_the_hand_worked_one(world, admin):
    rows = by_team(build(admin, Scope(), world))
    assert list(rows) == [MORGAN, OSCAR, SAM]
    morgan, sam, oscar = rows[MORGAN], rows[SAM], rows[OSCAR]
    assert (morgan["won"], morgan["target"]) == (Decimal("2100.00"), Decimal("7500.00"))
    assert morgan["attainment"] == pytest.approx(0.28)
    assert morgan["pipeline"] == Decimal("3700.00") and morgan["coverage"] == pytest.approx(
        3700 / 7500
    )
    assert morgan["accuracy"] == pytest.approx(0.9)
    assert (morgan["open_deals"], morgan["stalled"]) == (3, 2)
    assert morgan["stalled_share"] == pytest.approx(2 / 3)
    assert (morgan["new_deals"], morgan["new_pipeline"]) == (3, Decimal("3800.00"))
    assert (sam["won"], sam["target"]) == (Decimal("1100.00"), Decimal("3000.00"))
    assert sam["attainment"] == pytest.approx(1100 / 3000) and sam["coverage"] == pytest.approx(
        2200 / 3000
    )
    assert (sam["open_deals"], sam["stalled"], sam["stalled_share"]) == (1, 1, 1.0)
    assert (sam["new_deals"], sam["new_pipeline"], sam["accuracy"]) == (2, Decimal("3300.00"), None)
    assert oscar["attainment"] == pytest.approx(5000 / 6000) and oscar["coverage"] == 0
    assert (oscar["open_deals"], oscar["stalled_share"], oscar["new_pipeline"]) == (
        0,
        None,
        Decimal("5000.00"),
    )


@pytest.mark.parametrize(
    "who, teams",
    [
        ("admin", {MORGAN, SAM, OSCAR}),
        ("manager", {MORGAN, SAM}),
        ("submanager", {SAM}),
        ("other_manager", {OSCAR}),
    ],
)
def test_a_manager_sees_their_team_and_the_teams_below_never_a_siblings(
    client, request, world, who, teams
):
    client.force_login(request.getfixturevalue(who))
    response = client.get(f"/reports/{SLUG}/?period=30d")
    assert response.status_code == 200
    assert {row["team"] for row in response.context["result"].rows} == teams
    html = response.content.decode()
    for team in {MORGAN, SAM, OSCAR} - teams:
        assert team not in html


@pytest.mark.parametrize("who", ["rep", "rep2", "subrep", "outsider"])
def test_reps_can_neither_open_nor_export_it(client, request, world, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(f"/reports/{SLUG}/").status_code == 404
    assert client.get(f"/reports/{SLUG}/export.csv").status_code == 404
    listed = [report.slug for report in client.get("/reports/").context["reports"]]
    assert SLUG not in listed


def test_a_sibling_manager_asking_for_another_team_gets_their_own(
    client, world, other_manager, manager
):
    client.force_login(other_manager)
    response = client.get(f"/reports/{SLUG}/?scope=team&scope_id={manager.pk}&period=30d")
    assert {row["team"] for row in response.context["result"].rows} == {OSCAR}


def test_an_admin_picking_a_team_gets_it_and_the_teams_below(world, admin, manager):
    assert set(by_team(build(admin, Scope(team=manager.pk), world))) == {MORGAN, SAM}


def test_the_chart_compares_teams_on_the_chosen_metric(client, world, admin):
    client.force_login(admin)
    response = client.get(f"/reports/{SLUG}/?period=30d&metric=new_pipeline")
    chart = response.context["result"].charts[0]
    assert chart.title == "New pipeline by team"
    assert chart.figure["data"][0]["x"] == [3800.0, 5000.0, 3300.0]
    assert client.get(f"/reports/{SLUG}/?metric=nope").status_code == 400


def test_a_fixed_number_of_queries_whatever_the_teams_and_deals(
    world, admin, pipeline, stages, django_assert_num_queries
):
    # On PostgreSQL one more: whether the rollups answer (the won and created deals then read them).
    with django_assert_num_queries(7 + rollup_check()):
        build(admin, Scope(), world)
    for n in range(3):
        boss = UserFactory(username=f"boss{n}", role="manager", full_name=f"Boss {n}")
        seller = UserFactory(username=f"seller{n}", manager=boss)
        build_deals(admin, seller, stages, pipeline, [
            ("X1", "100", -20, -5, "Won", -5, "pipeline"),
            ("X2", "100", -20, None, "", 5, "pipeline"),
        ], world, prefix=f"{n}")  # fmt: skip
    with django_assert_num_queries(7 + rollup_check()):
        result = build(admin, Scope(), world)
    assert len(result.rows) == 6


def test_a_past_period_reads_the_pipeline_from_history(world, admin, django_assert_num_queries):
    period = Period.from_days(
        world - datetime.timedelta(days=59), world - datetime.timedelta(days=30)
    )
    with django_assert_num_queries(8 + rollup_check()):
        rows = by_team(build(admin, Scope(), world, period))
    # As of -30, closing in [-30, 0): rep's W1 (expected -10, open then); subrep's deals did not exist.
    assert rows[MORGAN]["pipeline"] == Decimal("1000.00") and rows[SAM]["pipeline"] == Decimal(
        "0.00"
    )
    assert rows[MORGAN]["coverage"] == pytest.approx(1000 / 7500)


def test_the_exports_hold_the_table_with_real_numbers(client, world, admin):
    client.force_login(admin)
    response = client.get(f"/reports/{SLUG}/export.csv?period=30d")
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Team", "Won", "Target", "Attainment (%)"]
    assert rows[1] == [
        MORGAN,
        "2100.00",
        "7500.00",
        "28.0",
        "3700.00",
        "0.5",
        "90.0",
        "3",
        "2",
        "66.7",
        "3",
        "3800.00",
    ]
    response = client.get(f"/reports/{SLUG}/export.xlsx?period=30d")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[1][:4] == [MORGAN, 2100.0, 7500.0, pytest.approx(0.28)]
    assert values[3][0] == SAM and values[3][-1] == 3300.0
