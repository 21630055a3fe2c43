"""Rep scorecards against figures worked out by hand, who sees which rows, the query pin and exports.

The period is the last 30 days ``P = [today-29, today]``; the previous one
``P' = [today-59, today-30]``. Every time is noon of a day ``today + offset``.
Quotas are 100 a day for rep (300 over 90 days), 200 a day for rep2, none for
rep3, so each 30-day window's target is 3,000 and 6,000.

rep:  D1 created -40, won -10, 1,200 (expected to close -10: in the pipeline of P' taken at -30)
      D2 created -20, won -5, 600;  D3 created -50, lost -3, 800 (expected -3: in P''s pipeline)
      D4 created -70, won -45, 900 (won in P');  D5 open 1,500 expected +10
      D6 open 10,000 expected +5 but omitted;  D7 open EUR 1,000 (rate 1.10) expected +20
      a deleted deal won -4 (never counts); activities: 3 in P, 1 in P', 1 planned tomorrow
      commit forecasts of 30 days: windows ending in P off by 20% and 50% (accuracy 65%),
      one ending in P' off by 10% (accuracy 90%)
rep2: E1 created -12, won -2, 3,000;  E2 lost -8;  1 activity in P
rep3: E3 created -25, won -15, 300
outsider (another team): won 5,000 in P.

rep in P:  won 1,800, attainment 60%, win rate 2/3, cycle (30+15)/2 = 22.5 days, deal size 900,
           coverage (1,500 + 1,100) / 3,000 = 0.8667; in P': 30%, 100%, 25, 900,
           coverage from the history at -30: (1,200 + 800) / 3,000 = 0.6667.
rep2 in P: 50%, 50%, 10, 3,000, coverage 0 / 6,000 = 0; in P': 0%, none, none, none, 0.
rep3 in P: no quota, 100%, 10, 300.
Medians in P: attainment 55%, win rate 2/3, cycle 10, deal size 900, activities 1,
coverage 0.4333, accuracy 65%.
"""

import csv
import datetime
import io
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from openpyxl import load_workbook

from pipeline.models import Activity, Deal, ExchangeRate
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from quotas.models import Quota
from reports.catalog import REPORTS, rep_scorecards
from reports.models import ForecastSnapshot
from tests.conftest import rollup_check
from tests.factories import AccountFactory, LostReasonFactory, UserFactory

SLUG = "rep-scorecards"


def noon(today: datetime.date, offset: int) -> datetime.datetime:
    return start_of(today + datetime.timedelta(days=offset)) + datetime.timedelta(hours=12)


@pytest.fixture
def rep3(manager):
    return UserFactory(username="rep3", manager=manager, full_name="Rowan Rep")


def build_deals(admin, owner, stages, pipeline, rows, today, *, prefix="", currency="USD"):
    """Deals from ``(name, amount, created, closed or None, outcome, expected, category)`` rows."""
    account = AccountFactory(owner=owner)
    reason = LostReasonFactory(name="Price")
    specs = []
    for name, amount, created, closed, outcome, expected, category, *rest in rows:
        moves = [(stages["Qualification"], created)]
        if closed is not None:
            moves.append((stages[outcome], closed))
        stage = (
            stages[outcome]
            if closed is not None
            else stages["Discovery" if created < -5 else "Qualification"]
        )
        specs.append(
            DealSpec(
                name=f"{prefix}{name}",
                account_id=account.pk,
                owner_id=owner.pk,
                pipeline_id=pipeline.pk,
                stage_id=stage.pk,
                amount=Decimal(amount),
                currency=rest[0] if rest else currency,
                expected_close_date=today + datetime.timedelta(days=expected),
                forecast_category=category,
                created_at=noon(today, created),
                lost_reason_id=reason.pk if outcome == "Lost" else None,
                transitions=[
                    TransitionSpec(to_stage_id=s.pk, at=noon(today, t), by_id=owner.pk)
                    for s, t in moves
                ],
                changes=[],
            )
        )
        if closed is None:
            specs[-1].transitions = specs[-1].transitions[:1]
            specs[-1].stage_id = stages["Qualification"].pk
    return deals_import(specs=specs, by=admin)


def snapshot(owner, today, as_of, commit, actual, horizon=30):
    money = Decimal(commit)
    return ForecastSnapshot.objects.create(
        scope_key=Scope(owner=owner.pk).key,
        scope_kind="owner",
        as_of=today + datetime.timedelta(days=as_of),
        horizon=horizon,
        pipeline=money,
        best_case=money,
        commit=money,
        weighted=money,
        model=money,
        model_p10=money,
        model_p90=money,
        overdue_value=Decimal(0),
        won_in_window=Decimal(0),
        actual=Decimal(actual),
        computed_at=timezone.now(),
    )


@pytest.fixture
def world(admin, manager, rep, rep2, rep3, outsider, other_manager, pipeline, stages):
    today = timezone.localdate()
    ExchangeRate.objects.create(currency="EUR", valid_from="2000-01-01", rate=Decimal("1.10"))
    build_deals(admin, rep, stages, pipeline, [
        ("D1", "1200", -40, -10, "Won", -10, "pipeline"),
        ("D2", "600", -20, -5, "Won", -5, "pipeline"),
        ("D3", "800", -50, -3, "Lost", -3, "pipeline"),
        ("D4", "900", -70, -45, "Won", -45, "pipeline"),
        ("D5", "1500", -35, None, "", 10, "pipeline"),
        ("D6", "10000", -35, None, "", 5, "omitted"),
        ("D7", "1000", -10, None, "", 20, "pipeline", "EUR"),
        ("Deleted", "7000", -20, -4, "Won", -4, "pipeline"),
    ], today)  # fmt: skip
    Deal.objects.filter(name="Deleted").update(deleted_at=timezone.now())
    build_deals(admin, rep2, stages, pipeline, [
        ("E1", "3000", -12, -2, "Won", -2, "pipeline"),
        ("E2", "400", -30, -8, "Lost", -8, "pipeline"),
    ], today)  # fmt: skip
    build_deals(
        admin, rep3, stages, pipeline, [("E3", "300", -25, -15, "Won", -15, "pipeline")], today
    )
    build_deals(
        admin, outsider, stages, pipeline, [("O1", "5000", -20, -6, "Won", -6, "pipeline")], today
    )
    quota_days = (today - datetime.timedelta(days=60), today + datetime.timedelta(days=29))
    Quota.objects.create(
        owner=rep, period_start=quota_days[0], period_end=quota_days[1], target=Decimal("9000")
    )
    Quota.objects.create(
        owner=rep2, period_start=quota_days[0], period_end=quota_days[1], target=Decimal("18000")
    )
    Quota.objects.create(
        owner=outsider, period_start=quota_days[0], period_end=quota_days[1], target=Decimal("900")
    )
    deal = Deal.objects.get(name="D5")
    for who, offset in (
        (rep, -1),
        (rep, -7),
        (rep, -29),
        (rep, -40),
        (rep, 1),
        (rep2, -3),
        (outsider, -2),
    ):
        Activity.objects.create(
            kind="call", subject="Call", author=who, deal=deal, occurred_at=noon(today, offset)
        )
    snapshot(rep, today, -40, "800", "1000")  # window ends -11: in P, error 20%
    snapshot(rep, today, -35, "1500", "1000")  # ends -6: in P, error 50%
    snapshot(rep, today, -70, "900", "1000")  # ends -41: in P', error 10%
    snapshot(rep, today, -45, "0", "0")  # nothing won: no percentage error
    snapshot(rep, today, -40, "5000", "1000", horizon=60)  # another horizon
    return today


def build(user, scope, today, **params):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(params)
    pick = Pick(kind="team", scope=scope, period=Period.named("30d", today))
    return REPORTS[SLUG].build_for_page(user, pick, today, query)


def by_rep(result):
    return {row["rep"]: row for row in result.rows}


def test_every_figure_matches_the_hand_worked_one(world, manager):
    result = build(manager, Scope(team=manager.pk), world)
    rows = by_rep(result)
    assert list(rows) == ["Riley Rep", "Robin Rep", "Rowan Rep"]
    riley = rows["Riley Rep"]
    assert riley["attainment"] == pytest.approx(0.6) and riley[
        "attainment_change"
    ] == pytest.approx(0.3)
    assert riley["win_rate"] == pytest.approx(2 / 3) and riley["win_rate_change"] == pytest.approx(
        2 / 3 - 1
    )
    assert riley["cycle"] == pytest.approx(22.5) and riley["cycle_change"] == pytest.approx(-2.5)
    assert riley["deal_size"] == Decimal("900.00") and riley["deal_size_change"] == Decimal("0.00")
    assert riley["activities"] == 3 and riley["activities_change"] == 2
    assert riley["coverage"] == pytest.approx(2600 / 3000)
    assert riley["coverage_change"] == pytest.approx(2600 / 3000 - 2000 / 3000)
    assert riley["accuracy"] == pytest.approx(0.65) and riley["accuracy_change"] == pytest.approx(
        0.65 - 0.9
    )
    robin = rows["Robin Rep"]
    assert (robin["attainment"], robin["attainment_change"]) == (
        pytest.approx(0.5),
        pytest.approx(0.5),
    )
    assert robin["win_rate"] == pytest.approx(0.5) and robin["win_rate_change"] is None
    assert robin["cycle"] == pytest.approx(10) and robin["deal_size"] == Decimal("3000.00")
    assert robin["coverage"] == 0 and robin["coverage_change"] == 0
    assert robin["accuracy"] is None and robin["activities"] == 1
    rowan = rows["Rowan Rep"]
    assert rowan["attainment"] is None and rowan["coverage"] is None
    assert (
        rowan["win_rate"] == 1
        and rowan["deal_size"] == Decimal("300.00")
        and rowan["activities"] == 0
    )
    median = result.totals
    assert median["rep"] == "Team median"
    assert median["attainment"] == pytest.approx(0.55)
    assert median["attainment_change"] == pytest.approx(0.55 - 0.15)
    assert median["win_rate"] == pytest.approx(2 / 3)
    assert median["cycle"] == pytest.approx(10)
    assert median["deal_size"] == Decimal("900.00")
    assert median["activities"] == 1
    assert median["coverage"] == pytest.approx((2600 / 3000) / 2)
    assert median["accuracy"] == pytest.approx(0.65)


def test_a_rep_sees_their_own_row_and_only_the_teams_median(world, rep):
    result = build(rep, Scope(owner=rep.pk), world)
    assert [row["rep"] for row in result.rows] == ["Riley Rep"]
    assert result.totals["rep"] == "Team median"
    assert result.totals["deal_size"] == Decimal("900.00")  # of rep, rep2 and rep3
    chart = result.charts[0]
    text = str(chart.figure) + chart.summary
    assert "Robin" not in text and "Rowan" not in text


@pytest.mark.parametrize(
    "who, shown",
    [
        ("admin", {"Riley Rep", "Robin Rep", "Rowan Rep", "Olive Outsider"}),
        ("manager", {"Riley Rep", "Robin Rep", "Rowan Rep"}),
        ("other_manager", {"Olive Outsider"}),
        ("rep", {"Riley Rep"}),
        ("rep2", {"Robin Rep"}),
        ("outsider", {"Olive Outsider"}),
    ],
)
def test_the_page_shows_only_the_rows_a_role_may_see(client, request, world, who, shown):
    client.force_login(request.getfixturevalue(who))
    response = client.get(f"/reports/{SLUG}/?period=30d")
    assert response.status_code == 200
    assert {row["rep"] for row in response.context["result"].rows} == shown
    html = response.content.decode()
    for name in {"Riley Rep", "Robin Rep", "Rowan Rep", "Olive Outsider"} - shown:
        assert name not in html


def test_a_sibling_manager_cannot_ask_for_another_team(client, world, other_manager, manager, rep):
    client.force_login(other_manager)
    response = client.get(f"/reports/{SLUG}/?scope=team&scope_id={manager.pk}&period=30d")
    assert {row["rep"] for row in response.context["result"].rows} == {"Olive Outsider"}
    response = client.get(f"/reports/{SLUG}/?scope=rep&scope_id={rep.pk}&period=30d")
    assert {row["rep"] for row in response.context["result"].rows} == {"Olive Outsider"}


def test_the_chart_compares_reps_on_the_chosen_metric_and_refuses_another(client, world, manager):
    client.force_login(manager)
    response = client.get(f"/reports/{SLUG}/?period=30d&metric=deal_size")
    chart = response.context["result"].charts[0]
    assert chart.title == "Average won deal by rep"
    assert chart.figure["data"][0]["x"] == [900.0, 3000.0, 300.0]
    assert 'name="metric"' in response.content.decode()
    response = client.get(f"/reports/{SLUG}/?period=30d&metric=bogus")
    assert response.status_code == 400 and b"metric" in response.content


def test_a_fixed_number_of_queries_whatever_the_reps_and_deals(
    world, manager, admin, pipeline, stages, django_assert_num_queries
):
    scope = Scope(team=manager.pk)
    # On PostgreSQL: whether the rollups answer, and today's activities so far.
    with django_assert_num_queries(7 + 2 * rollup_check()):
        build(manager, scope, world)
    for n in range(3):
        extra = UserFactory(username=f"extra{n}", manager=manager)
        build_deals(admin, extra, stages, pipeline, [
            ("X1", "100", -20, -5, "Won", -5, "pipeline"),
            ("X2", "100", -20, None, "", 5, "pipeline"),
        ], world, prefix=f"{n}")  # fmt: skip
    with django_assert_num_queries(7 + 2 * rollup_check()):
        result = build(manager, scope, world)
    assert len(result.rows) == 6


def test_a_past_period_reads_both_pipelines_from_history(world, manager, django_assert_num_queries):
    period = Period.from_days(
        world - datetime.timedelta(days=59), world - datetime.timedelta(days=30)
    )
    pick = Pick(kind="team", scope=Scope(team=manager.pk), period=period)
    with django_assert_num_queries(7 + rollup_check()):
        result = REPORTS[SLUG].build(manager, pick, world)
    riley = by_rep(result)["Riley Rep"]
    # As of -30: D1 (1,200, expected -10) and D3 (800, expected -3) close in [-30, 0).
    assert riley["coverage"] == pytest.approx(2000 / 3000)
    assert riley["attainment"] == pytest.approx(0.3)


def test_a_past_pipeline_keeps_a_deal_removed_since(world, manager):
    """The pipeline as it stood then holds a deal open then that has since been purged, as the
    dashboard's forecast as of that day does (``deals_as_of``): what was there, not what is left."""
    Deal.objects.get(name="D3").delete()
    period = Period.from_days(
        world - datetime.timedelta(days=59), world - datetime.timedelta(days=30)
    )
    pick = Pick(kind="team", scope=Scope(team=manager.pk), period=period)
    riley = by_rep(REPORTS[SLUG].build(manager, pick, world))["Riley Rep"]
    assert riley["coverage"] == pytest.approx(2000 / 3000)


def test_the_exports_hold_the_table_and_the_median(client, world, manager):
    client.force_login(manager)
    response = client.get(f"/reports/{SLUG}/export.csv?period=30d")
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == [
        "Rep",
        "Attainment (%)",
        "Attainment trend (pts)",
        "Win rate (%)",
        "Win rate trend (pts)",
    ]
    assert rows[1][:7] == ["Riley Rep", "60.0", "30.0", "66.7", "-33.3", "22.5", "-2.5"]
    assert rows[-1][0] == "Team median" and rows[-1][1] == "55.0"
    response = client.get(f"/reports/{SLUG}/export.xlsx?period=30d")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[1][:3] == ["Riley Rep", pytest.approx(0.6), pytest.approx(0.3)]
    assert values[1][7] == 900.0
    assert sheet["C2"].number_format == "+0.0%;-0.0%;0.0%"
    assert values[-1][0] == "Team median"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("past", [False, True])
def test_the_previous_pipeline_read_beside_the_rest_gives_the_same_figures(
    world, manager, monkeypatch, past
):
    """Outside a transaction on PostgreSQL the previous period's pipeline is read from the history
    on a thread and connection of its own while the other figures are read: the same table."""
    threads = []
    history_pipeline = rep_scorecards.history_pipeline
    monkeypatch.setattr(
        rep_scorecards,
        "history_pipeline",
        lambda *args: threads.append(threading.get_ident()) or history_pipeline(*args),
    )
    today = world - datetime.timedelta(days=30) if past else world
    beside = build(manager, Scope(team=manager.pk), today)
    with transaction.atomic():
        alone = build(manager, Scope(team=manager.pk), today)

    assert (beside.rows, beside.totals) == (alone.rows, alone.totals)
    assert (threads[0] != threading.get_ident()) is (connection.vendor == "postgresql")
    assert set(threads[1:]) == {threading.get_ident()}
