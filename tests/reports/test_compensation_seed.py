"""The demo's compensation: a plan per rep, a few split deals and a year of statements, rebuilt on reset."""

import io

import pytest
from django.core.management import CommandError, call_command

from pipeline.models import DealSplit
from reports.budget.models import BudgetAmount, TeamBudget
from reports.compensation.models import CommissionPlan, CommissionStatement, StatementLine
from salesmgr.models import User


def seed(*args):
    out = io.StringIO()
    call_command(
        "seed_demo",
        "--deals",
        "200",
        "--today",
        "2026-01-15",
        "--no-progress",
        "--no-forecasts",
        *args,
        stdout=out,
    )
    return out.getvalue()


def test_the_demo_has_plans_and_a_year_of_statements(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    output = seed()
    reps = User.objects.filter(role="rep").count()
    assert CommissionPlan.objects.count() == reps
    assert CommissionStatement.objects.count() == reps * 12
    months = sorted({s.month.isoformat() for s in CommissionStatement.objects.all()})
    assert (months[0], months[-1]) == ("2025-01-01", "2025-12-01")
    assert CommissionStatement.objects.filter(status="approved").count() == reps * 11
    assert StatementLine.objects.filter(kind="credit").exists()
    assert DealSplit.objects.exists()
    assert f"Compensation: {reps} plans, {reps * 12} statements; 6 team budgets." in output
    last_year = TeamBudget.objects.filter(year=2025).first()
    assert (
        BudgetAmount.objects.filter(budget=last_year, kind="actual", category="headcount").count()
        == 12
    )
    assert (
        BudgetAmount.objects.filter(budget__year=2026, kind="actual").count() == 0
    )  # no month of 2026 is over
    seed("--reset")
    assert CommissionStatement.objects.count() == reps * 12


def test_seed_compensation_takes_fewer_months_and_refuses_none(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed("--no-bulk")
    CommissionStatement.objects.all().delete()
    CommissionPlan.objects.all().delete()
    reps = User.objects.filter(role="rep").count()
    with pytest.raises(CommandError, match="--months must be at least 1, not 0"):
        call_command("seed_compensation", "--today", "2026-01-15", "--months", "0")
    assert not CommissionPlan.objects.exists()  # nothing half-made
    out = io.StringIO()
    call_command("seed_compensation", "--today", "2026-01-15", "--months", "2", stdout=out)
    months = sorted({s.month.isoformat() for s in CommissionStatement.objects.all()})
    assert months == ["2025-11-01", "2025-12-01"]
    assert CommissionStatement.objects.count() == reps * 2
