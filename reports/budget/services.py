"""Writes of team budgets: admins create them and plan programmes; the team's managers enter actual spend."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reports.budget.models import AmountKind, BudgetAmount, SpendCategory, TeamBudget
from salesmgr.errors import PermissionDenied
from salesmgr.models import Role, User
from salesmgr.selectors import may_act_for


def budget_create(*, manager: User, year: int, by: User) -> TeamBudget:
    """A team's budget for a year (admins); one per team and year."""
    if not by.is_admin:
        raise PermissionDenied("Only admins create budgets.")
    errors = {}
    if manager.role != Role.MANAGER:
        errors["manager"] = ["A budget belongs to a manager's team."]
    if not 1900 <= year <= 9000:
        errors["year"] = ["Give a year from 1900 to 9000."]
    elif TeamBudget.objects.filter(manager=manager, year=year).exists():
        errors["year"] = [f"{manager.display_name}'s team already has a budget for {year}."]
    if errors:
        raise ValidationError(errors)
    return TeamBudget.objects.create(manager=manager, year=year)


def budget_amount_errors(*, kind: str, category: str, month: int, amount: Decimal) -> dict:
    errors = {}
    if kind not in AmountKind.values:
        errors["kind"] = ["Choose planned or actual."]
    if category not in SpendCategory.values:
        errors["category"] = ["Choose headcount, training, travel, events or other."]
    elif kind == AmountKind.PLANNED and category == SpendCategory.HEADCOUNT:
        errors["category"] = [
            "Headcount is planned from the commission plans; enter its actual spend only."
        ]
    if not 1 <= month <= 12:
        errors["month"] = ["Give a month from 1 to 12."]
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e14"):
        errors["amount"] = ["Give an amount of 0 or more."]
    return errors


def budget_amount_set(
    *, budget: TeamBudget, kind: str, category: str, month: int, amount: Decimal, by: User
) -> BudgetAmount:
    """Set a planned programme amount (admins) or an actual spend (admins and the team's managers)."""
    allowed = by.is_admin or (
        kind == AmountKind.ACTUAL
        and by.is_manager
        and may_act_for(actor=by, owner_id=budget.manager_id)
    )
    if not allowed:
        raise PermissionDenied("Admins plan budgets; the team's managers enter actual spend.")
    errors = budget_amount_errors(kind=kind, category=category, month=month, amount=amount)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row, _ = BudgetAmount.objects.update_or_create(
            budget=budget,
            kind=kind,
            category=category,
            month=month,
            defaults={"amount": amount.quantize(Decimal("0.01")), "updated_at": timezone.now()},
        )
    return row


def budget_delete(*, budget: TeamBudget, by: User) -> None:
    """Delete a team's budget and every amount entered against it (admins)."""
    if not by.is_admin:
        raise PermissionDenied("Only admins delete budgets.")
    budget.delete()


def budget_amount_delete(*, amount: BudgetAmount, by: User) -> None:
    """Remove a planned programme amount or an actual spend (admins): the month counts as 0 again."""
    if not by.is_admin:
        raise PermissionDenied("Only admins remove budget amounts.")
    amount.delete()
