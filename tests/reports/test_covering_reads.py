"""The team-wide sums of pipeline and closed deals read only columns that their covering index
carries, and split so they give what one query gave.

At 1,000,000 deals a past window's pipeline (a scorecard's previous period, the forecast a week
ago, team health for a past period) read 50,000-95,000 deal versions from 60,000-90,000 table
pages; a team's forecast windows today 66,000 deals from 23,000. From the index alone they take a
third of that (``benchmarks/README.md``). A column added to one of these sums without adding it to
its index sends the read back to the table: these tests name the column.
"""

import datetime
import random
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, F, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coaching.insights import COVERAGE_DAYS, _deal_rows
from pipeline.models import Deal, ForecastCategory, HistoricalDeal, StageKind, StageTransition
from pipeline.money import at_close, converted
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from pipeline.services import exchange_rate_create
from reports import rollups
from reports.catalog.forecast import category_sums
from reports.catalog.lost_reasons import with_lost_move
from reports.catalog.people_figures import (
    closed_sums,
    coverage_day,
    history_pipeline,
    pipeline_in_window,
    won_since,
)
from reports.catalog.rep_scorecards import _deal_sums
from reports.catalog.team_health import _flag, _history_pipeline, _live_sums, _when, by_team
from reports.forecasts import window_sums
from reports.metrics import created_day, deal_sums
from reports.runners.attention import rotting_stages, stalled_condition
from reports.runners.gap import gap_period
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 18)
# The index's condition (open versions; for deals also not deleted) is not read from its columns.
CONDITION = {"status", "deleted_at"}


def _columns(model, name: str) -> set[str]:
    [index] = [index for index in model._meta.indexes if index.name == name]
    return {model._meta.get_field(field).column for field in (*index.fields, *index.include)}


def _read(sql: str, table: str) -> set[str]:
    return set(re.findall(rf'"{table}"\."(\w+)"', sql))


def _queries(run) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        run()
    return [query["sql"] for query in queries]


@pytest.mark.parametrize("scope", [Scope(), Scope(team=7), Scope(owner=3)])
def test_past_pipeline_reads_the_open_span_index(scope):
    span = _columns(HistoricalDeal, "deal_history_open_span_idx")
    day = TODAY - datetime.timedelta(days=30)
    reads = _queries(lambda: history_pipeline(scope, [3, 4], day, 30)) + _queries(
        lambda: _history_pipeline([7], scope, day, 30)
    )
    for sql in reads:
        assert _read(sql, "pipeline_historicaldeal") - CONDITION <= span
    # ``status`` must be carried, not only be the index's condition: the sums' FILTER repeats it.
    assert "status" in span


def test_forecast_windows_read_their_indexes():
    pick = Pick("team", Scope(team=7), gap_period("quarter", TODAY))
    now, then = [sql for sql in _queries(lambda: category_sums(pick, TODAY)) if "GROUP BY" in sql]
    assert _read(now, "pipeline_deal") - CONDITION <= _columns(Deal, "deal_open_owner_close_idx")
    # A week ago's versions: the span, owner, stage (for the weighted sum) and category.
    assert _read(then, "pipeline_historicaldeal") - {"status"} <= _columns(
        HistoricalDeal, "deal_history_open_span_idx"
    )


@pytest.fixture
def mixed_deals(admin, manager, rep, rep2, outsider, pipeline, stages):
    """Deals of every status closed over a year and due over half of one, in four currencies (one
    never has a rate, one only lately), in every forecast category, some deleted."""
    rng = random.Random(6)
    today = timezone.localdate()
    for currency, days_ago, rate in (("EUR", 300, "1.07"), ("EUR", 40, "1.16"), ("GBP", 12, "1.3")):
        exchange_rate_create(
            currency=currency,
            valid_from=today - datetime.timedelta(days=days_ago),
            rate=Decimal(rate),
            by=admin,
        )
    owners = [rep, rep2, outsider, manager]
    now = timezone.now()
    for i in range(90):
        deal = DealFactory(
            owner=rng.choice(owners),
            pipeline=pipeline,
            amount=Decimal(rng.randrange(100, 500000)) / 100,
            expected_close_date=today + datetime.timedelta(days=rng.randrange(-40, 200)),
        )
        status = rng.choice([StageKind.OPEN, StageKind.OPEN, StageKind.WON, StageKind.LOST])
        closed_at = now - datetime.timedelta(days=rng.randrange(0, 380), hours=rng.random() * 24)
        changes = {
            "currency": rng.choice(["USD", "USD", "EUR", "GBP", "JPY"]),
            "forecast_category": rng.choice(list(ForecastCategory.values)),
            "created_at": closed_at - datetime.timedelta(days=rng.randrange(0, 120)),
        }
        if status != StageKind.OPEN:
            stage = stages["Won" if status == StageKind.WON else "Lost"]
            changes.update(status=status, stage=stage, closed_at=closed_at)
        if i % 11 == 0:
            changes["deleted_at"] = now
        Deal.objects.filter(pk=deal.pk).update(**changes)
    return today


def _in_one_query(ids: list[int], counted: Q, sums: dict) -> dict[int, dict]:
    rows = (
        Deal.objects.filter(counted, deleted_at__isnull=True, owner_id__in=ids)
        .values("owner_id")
        .annotate(**sums)
        .order_by()
    )
    return {row["owner_id"]: row for row in rows}


@pytest.mark.parametrize("period_name", ["month", "quarter", "ytd", "90d"])
def test_insights_sums_in_two_parts_equal_one_query(mixed_deals, rep, rep2, outsider, period_name):
    today = mixed_deals
    period = Period.named(period_name, today)
    ids = [rep.pk, rep2.pk, outsider.pk]
    start, end = period.bounds
    pipeline = window_sums(today, COVERAGE_DAYS)
    sums = {
        **deal_sums(period, today),
        "pipeline": pipeline["pipeline"],
        "pipeline_unconverted": pipeline["unconverted"],
    }
    counted = Q(status=StageKind.OPEN) | Q(closed_at__gte=start, closed_at__lt=end)
    expected = _in_one_query(ids, counted, sums)
    assert expected and any(row["open_unconverted"] for row in expected.values())
    assert _deal_rows(ids, period, today, False) == expected
    if rollups.ready():
        # From the closed rollup, the same sums (the cycle's days summed before they are days).
        rolled = _deal_rows(ids, period, today, True)
        assert _cycles_rounded(rolled) == _cycles_rounded(expected)


def _cycles_rounded(rows: dict) -> dict:
    return {
        owner: {**row, "cycle_days": row["cycle_days"] and round(row["cycle_days"], 9)}
        for owner, row in rows.items()
    }


@pytest.mark.parametrize("days_back", [0, 45, 200])
def test_scorecard_sums_in_two_parts_equal_one_query(mixed_deals, rep, rep2, outsider, days_back):
    today = mixed_deals
    period = Period.named("quarter", today - datetime.timedelta(days=days_back))
    day = coverage_day(period, today)
    live = day >= today
    ids = [rep.pk, rep2.pk, outsider.pk]
    first, _ = period.previous.bounds
    _, end = period.bounds
    counted = Q(status=StageKind.OPEN) | Q(closed_at__gte=first, closed_at__lt=end)
    sums = {**closed_sums(period, "_now"), **closed_sums(period.previous, "_before")}
    if live:
        counted |= Q(closed_at__gte=start_of(day))
        sums |= {
            "pipeline": pipeline_in_window(day, period.days),
            "won_already": won_since(start_of(day)),
        }
    expected = _in_one_query(ids, counted, sums)
    found = _deal_sums(ids, Scope(), period, day, live, False)

    def counted_something(rows: dict) -> dict:
        # One query over the open deals too gave an owner with only open deals a row of zeros
        # where no pipeline is summed (a past period); the split leaves such an owner out.
        return {owner: row for owner, row in rows.items() if any(row[name] for name in sums)}

    assert counted_something(expected)
    assert counted_something(found) == counted_something(expected)


def test_insights_and_scorecard_parts_read_their_indexes(mixed_deals, rep, rep2):
    today = mixed_deals
    period = Period.named("quarter", today)
    ids = [rep.pk, rep2.pk]
    opened = _columns(Deal, "deal_open_owner_close_idx")
    closed = _columns(Deal, "deal_live_owner_closed_idx")
    for run in (
        lambda: _deal_rows(ids, period, today, False),
        lambda: _deal_sums(ids, Scope(), period, today, True, False),
    ):
        open_part, closed_part = [sql for sql in _queries(run) if "GROUP BY" in sql]
        assert _read(open_part, "pipeline_deal") - CONDITION <= opened
        # The close index's condition is only "not deleted": the status is read from it.
        assert _read(closed_part, "pipeline_deal") - {"deleted_at"} <= closed


@pytest.mark.parametrize("days_back", [0, 120])
def test_team_health_parts_read_their_indexes(mixed_deals, manager, days_back):
    today = mixed_deals
    period = Period.named("quarter", today - datetime.timedelta(days=days_back))
    day = coverage_day(period, today)
    run = lambda: _live_sums([manager.pk], Scope(), period, today, day, day >= today)  # noqa: E731
    opened, won, created = [sql for sql in _queries(run) if "GROUP BY" in sql]
    assert _read(opened, "pipeline_deal") - CONDITION <= _columns(Deal, "deal_open_owner_close_idx")
    assert _read(won, "pipeline_deal") - CONDITION <= _columns(Deal, "deal_won_closed_idx")
    assert _read(created, "pipeline_deal") - {"deleted_at"} <= _columns(
        Deal, "deal_live_created_idx"
    )


@pytest.mark.parametrize("period_name", ["month", "quarter", "ytd"])
def test_team_health_parts_equal_one_query(mixed_deals, manager, rep, period_name):
    """The three parts give each team what one query over all of them gave."""
    today = mixed_deals
    period = Period.named(period_name, today)
    day = coverage_day(period, today)
    start, end = period.bounds
    won = Q(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end)
    created = Q(created_at__gte=start, created_at__lt=end)
    since = Q(status=StageKind.WON, closed_at__gte=start_of(day))
    window = Q(
        status=StageKind.OPEN,
        expected_close_date__gte=day,
        expected_close_date__lt=day + datetime.timedelta(days=period.days),
    ) & ~Q(forecast_category=ForecastCategory.OMITTED)
    columns = {
        "won_value": _when(won, at_close()),
        "won_flag": _flag(won),
        "open_flag": _flag(Q(status=StageKind.OPEN)),
        "stalled_flag": _flag(
            Q(status=StageKind.OPEN) & stalled_condition(rotting_stages(), today)
        ),
        "created_flag": _flag(created),
        "created_value": _when(created, converted(on=created_day())),
        "window_value": _when(window, converted(on=day)),
        "won_already": _when(since, at_close()),
    }
    rows = (
        Deal.objects.filter(deleted_at__isnull=True)
        .filter(Q(status=StageKind.OPEN) | won | created | since)
        .values("owner_id", **columns)
        .order_by()
    )
    expected = by_team(
        [manager.pk],
        rows,
        {
            "won": "SUM(won_value)",
            "won_deals": "SUM(won_flag)",
            "won_converted": "COUNT(won_value)",
            "open_deals": "SUM(open_flag)",
            "stalled": "SUM(stalled_flag)",
            "new_deals": "SUM(created_flag)",
            "new_pipeline": "SUM(created_value)",
            "new_converted": "COUNT(created_value)",
            "pipeline": "SUM(window_value)",
            "won_already": "SUM(won_already)",
        },
    )
    assert expected[manager.pk]["open_deals"]
    assert expected[manager.pk]["new_deals"] or period_name != "ytd"
    found = _live_sums([manager.pk], Scope(), period, today, day, True)
    # A part without rows leaves its keys out; the page reads each as ``row.get(key) or 0``.
    assert {key: found[manager.pk].get(key) or 0 for key in expected[manager.pk]} == {
        key: value or 0 for key, value in expected[manager.pk].items()
    }


@pytest.mark.parametrize("scope_of", ["organisation", "team", "rep"])
def test_forecast_category_sums_equal_the_per_deal_sums(mixed_deals, manager, rep, scope_of):
    """The report's sums, grouped by owner, currency, category and first window before they are added
    up, equal the dashboards' per-deal sums (``window_sums``) over the same rows, today and a week ago:
    in every currency, with and without a rate, and on each window's first and last day."""
    today = mixed_deals
    for days, currency, category in (
        (0, "USD", ForecastCategory.COMMIT),
        (29, "EUR", ForecastCategory.BEST_CASE),
        (30, "EUR", ForecastCategory.COMMIT),
        (59, "JPY", ForecastCategory.PIPELINE),
        (60, "GBP", ForecastCategory.OMITTED),
        (89, "USD", ForecastCategory.BEST_CASE),
        (90, "USD", ForecastCategory.COMMIT),
    ):
        DealFactory(
            owner=rep,
            amount=Decimal("1234.56"),
            currency=currency,
            forecast_category=category,
            expected_close_date=today + datetime.timedelta(days=days),
        )
    scope = {"organisation": Scope(), "team": Scope(team=manager.pk), "rep": Scope(owner=rep.pk)}
    pick = Pick(scope_of, scope[scope_of], gap_period("quarter", today))
    now, _ = category_sums(pick, today)
    expected = {}
    for horizon in (30, 60, 90):
        sums = window_sums(today, horizon, suffix=f"_{horizon}")
        rows = (
            Deal.objects.filter(deleted_at__isnull=True)
            .filter(pick.scope.deal_filter(), status=StageKind.OPEN)
            .values("owner_id")
            .annotate(**{f"{name}_{horizon}": sums[f"{name}_{horizon}"] for name in NAMES})
            .order_by()
        )
        for row in rows:
            expected.setdefault(row.pop("owner_id"), {}).update(row)
    expected = {owner: row for owner, row in expected.items() if any(row.values())}
    assert len(expected) > 1 or scope_of == "rep"
    assert any(row["unconverted_60"] for row in expected.values())
    assert {owner: {name: row[name] or 0 for name in row} for owner, row in expected.items()} == {
        owner: {name: now[owner][name] for name in expected[owner]} for owner in expected
    }


NAMES = ("commit", "best_case", "pipeline", "unconverted")


def test_lost_reasons_by_stage_read_their_indexes(mixed_deals, manager):
    """The lost deals come from their close index and their moves into the lost stages from the
    moves-into-a-stage index: each reads only columns its index carries."""
    today = mixed_deals
    period = Period.named("quarter", today)
    start, end = period.bounds
    lost = Deal.objects.filter(
        deleted_at__isnull=True, status=StageKind.LOST, closed_at__gte=start, closed_at__lt=end
    )
    rows = with_lost_move(lost, start, end).values(key=F("lost_move__from_stage_id"))
    [sql] = _queries(lambda: list(rows.annotate(deals=Count("id")).order_by()))
    moves = set(re.findall(r'lost_move\."(\w+)"', sql))
    assert moves <= _columns(StageTransition, "transition_stage_at_idx")
    assert _read(sql, "pipeline_deal") - CONDITION <= _columns(Deal, "deal_lost_closed_idx")
    # The join is bounded to the lost stages, so it reads a range of the index per lost stage.
    assert '"pipeline_stage"' in sql and "to_stage_id" in sql
