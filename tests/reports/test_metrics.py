"""Every funnel figure against values worked out by hand from the history in conftest."""

import datetime
from decimal import Decimal

import pytest

from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.metrics import funnel, series


@pytest.fixture
def first_month(history):
    return Period(
        history.today - datetime.timedelta(days=60), history.today - datetime.timedelta(days=30)
    )


def by_name(figures):
    return {row["name"]: row for row in figures["stages"]}


def test_deal_figures_for_one_rep(history, rep, first_month):
    figures = funnel(Scope(owner=rep.pk), first_month)
    assert figures["open_deals"] == 2  # C and E
    assert figures["open_value"] == Decimal("2300.00")
    assert figures["avg_open_deal_size"] == Decimal("1150.00")
    assert figures["won_deals"] == 1  # A
    assert figures["won_value"] == Decimal("1000.00")
    assert figures["lost_deals"] == 1  # B
    assert figures["avg_won_deal_size"] == Decimal("1000.00")
    assert figures["close_ratio"] == pytest.approx(0.5)
    assert figures["avg_sales_cycle_days"] == pytest.approx(10.0)
    # 2 open deals x 1,000 x 0.5 / 10 days
    assert figures["sales_velocity"] == Decimal("100.00")


def test_stage_figures_for_one_rep(history, rep, first_month):
    stages = by_name(funnel(Scope(owner=rep.pk), first_month))
    assert list(stages) == ["Qualification", "Discovery", "Proposal", "Negotiation"]
    qualification = stages["Qualification"]
    assert (qualification["entered"], qualification["advanced"]) == (
        4,
        3,
    )  # A, B, C went on; E stays
    assert qualification["conversion"] == pytest.approx(0.75)
    assert qualification["avg_days_in_stage"] == pytest.approx(7 / 3)  # stays of 2, 2 and 3 days
    assert (qualification["open_now"], qualification["open_value_now"]) == (1, Decimal("300.00"))

    discovery = stages["Discovery"]
    assert (discovery["entered"], discovery["advanced"]) == (3, 1)  # only A went on; B was lost
    assert discovery["conversion"] == pytest.approx(1 / 3)
    assert discovery["avg_days_in_stage"] == pytest.approx(3.0)  # A and B stayed 3 days each
    assert (discovery["open_now"], discovery["open_value_now"]) == (1, Decimal("2000.00"))

    proposal = stages["Proposal"]
    assert (proposal["entered"], proposal["advanced"], proposal["conversion"]) == (1, 1, 1.0)
    assert proposal["avg_days_in_stage"] == pytest.approx(5.0)

    negotiation = stages["Negotiation"]
    assert (negotiation["entered"], negotiation["advanced"]) == (0, 0)
    assert negotiation["conversion"] is None
    assert negotiation["avg_days_in_stage"] is None


def test_team_scope_adds_the_other_rep(history, manager, first_month):
    figures = funnel(Scope(team=manager.pk), first_month)
    assert figures["won_deals"] == 2  # A and F
    assert figures["won_value"] == Decimal("5000.00")
    assert figures["avg_sales_cycle_days"] == pytest.approx(15.0)  # 10 and 20 days
    assert figures["close_ratio"] == pytest.approx(2 / 3)


def test_figures_as_of_a_past_moment_use_the_old_stage_and_amount(history, rep, first_month):
    as_of = history.t0 + datetime.timedelta(days=5)
    figures = funnel(Scope(owner=rep.pk), first_month, as_of=as_of)
    # At +5d: A just entered Proposal, B and C sat in Discovery, E in Qualification; C was worth 1,500.
    assert figures["open_deals"] == 4
    assert figures["open_value"] == Decimal("3300.00")
    assert figures["won_deals"] == 0
    assert figures["close_ratio"] is None
    assert figures["sales_velocity"] is None
    stages = by_name(figures)
    assert stages["Discovery"]["open_now"] == 2
    assert stages["Discovery"]["open_value_now"] == Decimal("2000.00")  # B 500 + C 1,500
    # Only A had gone on from Discovery by then.
    assert (stages["Discovery"]["entered"], stages["Discovery"]["advanced"]) == (3, 1)
    assert stages["Proposal"]["advanced"] == 0  # A's win came later


def test_no_history_gives_zeros_and_nulls(db, rep):
    figures = funnel(Scope(owner=rep.pk), Period.default())
    assert figures["open_deals"] == 0
    assert figures["open_value"] == Decimal("0.00")
    assert figures["avg_open_deal_size"] is None
    assert figures["close_ratio"] is None
    assert figures["avg_sales_cycle_days"] is None
    assert figures["sales_velocity"] is None
    assert figures["stages"] == []


def test_funnel_runs_a_fixed_number_of_queries(
    history, manager, first_month, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5):
        funnel(Scope(team=manager.pk), first_month)


def test_monthly_series_is_zero_filled(history, rep):
    period = Period(
        history.today - datetime.timedelta(days=150), history.today + datetime.timedelta(days=1)
    )
    points = series(Scope(owner=rep.pk), period, "month")
    months = [p["bucket"] for p in points]
    assert months == sorted(months)
    assert len(months) in (6, 7)
    assert sum(p["won_deals"] for p in points) == 1
    assert sum(p["lost_deals"] for p in points) == 1
    assert sum(p["created_deals"] for p in points) == 4
    assert sum(p["won_value"] for p in points) == Decimal("1000.00")
    assert any(p["created_deals"] == 0 and p["won_value"] == 0 for p in points)
