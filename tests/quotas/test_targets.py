"""A scope's target: reps' quotas prorated, managers' roll-up or own figure as they chose, teams at any depth."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pipeline.periods import Period
from pipeline.scopes import Scope
from quotas.models import TargetBasis
from quotas.services import manager_target_set, quota_set, territory_create
from reports.forecasts import prorated_quota
from reports.targets import scope_target
from tests.factories import UserFactory

MARCH = Period.from_days(datetime.date(2026, 3, 1), datetime.date(2026, 3, 31))
Q1 = Period.from_days(datetime.date(2026, 1, 1), datetime.date(2026, 3, 31))


def _month(owner, month: int, target: str):
    first = datetime.date(2026, month, 1)
    last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    return quota_set(owner=owner, period_start=first, period_end=last, target=Decimal(target))


@pytest.fixture
def org(admin, manager, rep, rep2):
    """manager -> rep, rep2, lead; lead -> deep. Monthly quotas Jan-Mar; lead and manager have own figures in March."""
    lead = UserFactory(username="lead", role="manager", manager=manager, full_name="Lee Lead")
    deep = UserFactory(username="deep", manager=lead, full_name="Dee Deep")
    for month in (1, 2, 3):
        _month(rep, month, "1000")
        _month(rep2, month, "2000")
        _month(deep, month, "500")
    _month(lead, 3, "800")
    _month(manager, 3, "9999")
    return {"lead": lead, "deep": deep}


def test_a_rep_target_is_their_own_quota_prorated_by_days(rep, org):
    assert scope_target(Scope(owner=rep.pk), MARCH).amount == Decimal("1000.00")
    assert scope_target(Scope(owner=rep.pk), Q1).amount == Decimal("3000.00")
    ten_days = Period.from_days(datetime.date(2026, 3, 1), datetime.date(2026, 3, 10))
    # 1000 * 10 / 31
    assert scope_target(Scope(owner=rep.pk), ten_days).amount == Decimal("322.58")


def test_without_a_choice_a_manager_with_an_own_quota_keeps_it(manager, org):
    target = scope_target(Scope(team=manager.pk), MARCH)
    assert (target.amount, target.basis) == (Decimal("9999.00"), TargetBasis.OWN)
    assert "no choice made" in target.description


def test_without_a_choice_or_an_own_quota_a_manager_rolls_up_every_depth(manager, org):
    february = Period.from_days(datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    target = scope_target(Scope(team=manager.pk), february)
    # rep 1000 + rep2 2000 + lead's roll-up (deep 500)
    assert (target.amount, target.basis) == (Decimal("3500.00"), TargetBasis.ROLLUP)


def test_a_manager_who_chose_the_roll_up_counts_a_sub_manager_by_their_own_figure(
    admin, manager, org
):
    manager_target_set(manager=manager, basis=TargetBasis.ROLLUP, by=admin)
    target = scope_target(Scope(team=manager.pk), MARCH)
    # rep 1000 + rep2 2000 + lead's own 800 (not deep's 500)
    assert (target.amount, target.basis, target.description) == (
        Decimal("3800.00"),
        TargetBasis.ROLLUP,
        "the roll-up of the team's quotas",
    )
    manager_target_set(manager=org["lead"], basis=TargetBasis.ROLLUP, by=admin)
    assert scope_target(Scope(team=manager.pk), MARCH).amount == Decimal("3500.00")
    assert scope_target(Scope(team=org["lead"].pk), MARCH).amount == Decimal("500.00")


def test_a_manager_who_chose_their_own_figure_has_none_without_a_quota(admin, manager, org):
    manager_target_set(manager=manager, basis=TargetBasis.OWN, by=admin)
    assert scope_target(Scope(team=manager.pk), Q1).amount == Decimal("9999.00")
    january = Period.from_days(datetime.date(2026, 1, 1), datetime.date(2026, 1, 31))
    assert scope_target(Scope(team=manager.pk), january).amount == Decimal("0.00")


def test_a_territory_and_the_organisation_roll_up_the_reps_quotas(admin, rep, rep2, outsider, org):
    _month(outsider, 3, "4000")
    west = territory_create(name="West", by=admin)
    inner = territory_create(name="West coast", parent=west, reps=[rep, org["deep"]], by=admin)
    assert inner.pk
    assert scope_target(Scope(territory=west.pk), MARCH).amount == Decimal("1500.00")
    assert scope_target(Scope(), MARCH).amount == Decimal("7500.00")


def test_the_forecast_quota_is_the_same_target(manager, org):
    assert (
        prorated_quota(Scope(team=manager.pk), MARCH.start, 30)
        == scope_target(
            Scope(team=manager.pk), Period(MARCH.start, MARCH.start + datetime.timedelta(days=30))
        ).amount
    )


def test_pipeline_scopes_have_no_target(pipeline):
    assert scope_target(Scope(pipeline=pipeline.pk), MARCH) is None


def test_only_a_manager_has_a_target_basis(admin, rep):
    with pytest.raises(ValidationError) as refused:
        manager_target_set(manager=rep, basis=TargetBasis.OWN, by=admin)
    assert "Only a manager" in str(refused.value)


def test_the_target_of_a_team_costs_two_queries_whatever_its_size(
    manager, org, django_assert_num_queries
):
    for n in range(6):
        UserFactory(username=f"extra{n}", manager=org["lead"])
    with django_assert_num_queries(2):
        scope_target(Scope(team=manager.pk), MARCH)
