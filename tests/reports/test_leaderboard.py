"""The leaderboard early in a month ranks by a period that has won deals, and says which."""

import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from pipeline.models import Deal
from pipeline.periods import DAY, Period, start_of
from pipeline.scopes import Scope
from pipeline.services import deal_move
from quotas.services import quota_set
from reports import views
from reports.runners import LeaderboardRunner
from tests.factories import DealFactory

MONTHS = [datetime.date(2026, month, 1) for month in (9, 10, 11, 12)]


@pytest.fixture
def quotas(rep, rep2):
    """Both reps have a quota of 1,000 in every month from September to December 2026."""
    for person in (rep, rep2):
        for first in MONTHS:
            month = Period.named("month", first)
            quota_set(
                owner=person,
                period_start=month.start,
                period_end=month.last_day,
                target=Decimal("1000"),
            )


@pytest.fixture
def won(pipeline, stages):
    def win(owner, amount: str, day: datetime.date) -> None:
        deal = DealFactory(owner=owner, pipeline=pipeline, amount=Decimal(amount))
        deal_move(deal=deal, to_stage=stages["Won"], by=owner, expected_version=deal.version)
        Deal.objects.filter(pk=deal.pk).update(
            closed_at=start_of(day) + datetime.timedelta(hours=10)
        )

    return win


def _ranking(board: dict) -> list[tuple[int, str, Decimal]]:
    return [(row["rank"], row["name"], row["won"]) for row in board["rows"]]


@pytest.mark.parametrize("day", [1, 2, 3])
def test_early_in_a_later_month_of_a_quarter_the_ranking_uses_the_quarter(
    manager, rep, rep2, quotas, won, day
):
    won(rep, "300", datetime.date(2026, 10, 20))
    won(rep2, "900", datetime.date(2026, 11, 28))
    won(rep, "5000", datetime.date(2026, 9, 15))  # last quarter: not counted
    board = LeaderboardRunner(Scope(team=manager.pk), datetime.date(2026, 12, day)).run()
    assert (board["basis"], board["label"]) == ("quarter", "Q4 2026")
    assert board["window"] == Period(datetime.date(2026, 10, 1), datetime.date(2027, 1, 1))
    assert _ranking(board) == [
        (1, "Robin Rep", Decimal("900.00")),
        (2, "Riley Rep", Decimal("300.00")),
    ]
    assert [row["target"] for row in board["rows"]] == [Decimal("3000.00")] * 2
    assert [row["attainment"] for row in board["rows"]] == [pytest.approx(0.3), pytest.approx(0.1)]


@pytest.mark.parametrize("day", [1, 2, 3])
def test_early_in_the_first_month_of_a_quarter_the_ranking_uses_the_last_complete_month(
    manager, rep, rep2, quotas, won, day
):
    won(rep, "400", datetime.date(2026, 9, 30))
    won(rep2, "250", datetime.date(2026, 9, 1))
    won(rep2, "800", datetime.date(2026, 8, 31))  # before last month: not counted
    board = LeaderboardRunner(Scope(team=manager.pk), datetime.date(2026, 10, day)).run()
    assert (board["basis"], board["label"]) == ("last_month", "September 2026")
    assert _ranking(board) == [
        (1, "Riley Rep", Decimal("400.00")),
        (2, "Robin Rep", Decimal("250.00")),
    ]
    assert [row["target"] for row in board["rows"]] == [Decimal("1000.00")] * 2


def test_one_deal_won_this_month_is_enough_to_rank_by_the_month(manager, rep, rep2, quotas, won):
    won(rep2, "900", datetime.date(2026, 11, 28))
    won(rep, "100", datetime.date(2026, 12, 1))
    board = LeaderboardRunner(Scope(team=manager.pk), datetime.date(2026, 12, 2)).run()
    assert (board["basis"], board["label"]) == ("month", "December 2026")
    assert _ranking(board) == [
        (1, "Riley Rep", Decimal("100.00")),
        (2, "Robin Rep", Decimal("0.00")),
    ]


def test_with_nothing_won_anywhere_the_month_stays_the_basis(manager, rep, rep2, quotas):
    board = LeaderboardRunner(Scope(team=manager.pk), datetime.date(2026, 10, 2)).run()
    assert (board["basis"], board["label"], board["total"]) == ("month", "October 2026", 2)


def test_the_ranking_counts_only_reps_with_a_quota_in_the_period_it_uses(manager, rep, rep2, won):
    september, october = (Period.named("month", datetime.date(2026, m, 1)) for m in (9, 10))
    quota_set(
        owner=rep, period_start=october.start, period_end=october.last_day, target=Decimal("1000")
    )
    quota_set(
        owner=rep2,
        period_start=september.start,
        period_end=september.last_day,
        target=Decimal("500"),
    )
    won(rep2, "500", september.start)
    board = LeaderboardRunner(Scope(team=manager.pk), october.start + DAY).run()
    assert board["basis"] == "last_month"
    assert (_ranking(board), board["total"]) == ([(1, "Robin Rep", Decimal("500.00"))], 1)
    assert board["rows"][0]["attainment"] == pytest.approx(1.0)


def test_the_dashboard_and_home_panel_say_which_period_the_ranking_uses(
    monkeypatch, client, manager, rep, rep2, quotas, won
):
    won(rep, "300", datetime.date(2026, 10, 20))
    fixed = SimpleNamespace(
        localdate=lambda *args: datetime.date(2026, 12, 2),
        now=timezone.now,
        localtime=timezone.localtime,
    )
    monkeypatch.setattr(views, "timezone", fixed)
    client.force_login(manager)
    note = "No deal won in December yet: ranked by the quarter so far, Q4 2026."
    dashboard = client.get("/dashboard/").content.decode()
    assert "Quota attainment, Q4 2026" in dashboard
    assert note in dashboard
    panels = client.get("/home/panels/", headers={"HX-Request": "true"}).content.decode()
    assert "Quota attainment, Q4 2026" in panels
    assert note in panels
