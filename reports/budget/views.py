"""Budget pages: the team budgets one may see (admins add one) and a budget by month with its chart."""

import datetime
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from pipeline.money import reporting_currency
from reports.budget.charts import budget_chart
from reports.budget.models import AmountKind, SpendCategory
from reports.budget.selectors import budget_figures, budgets_visible_to
from reports.budget.services import budget_amount_set, budget_create
from salesmgr.errors import PermissionDenied
from salesmgr.models import Role, User


def _refuse_reps(user: User) -> None:
    if user.is_rep:
        raise Forbidden("Budgets are for managers and admins.")


def _errors(error: ValidationError) -> dict:
    return error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}


@login_required
def budgets_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    _refuse_reps(user)
    errors = {}
    if request.method == "POST":
        if not user.is_admin:
            raise Forbidden("Only admins create budgets.")
        try:
            manager = User.objects.filter(pk=int(request.POST.get("manager") or 0)).first()
            if manager is None:
                raise ValidationError({"manager": ["Choose a manager."]})
            try:
                year = int(request.POST.get("year", ""))
            except ValueError:
                raise ValidationError({"year": ["Give a year."]}) from None
            budget = budget_create(manager=manager, year=year, by=user)
        except ValidationError as error:
            errors = _errors(error)
        else:
            return redirect("budget", pk=budget.pk)
    elif request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405)
    context = {
        "budgets": list(
            budgets_visible_to(user)
            .select_related("manager")
            .order_by("-year", "manager__full_name")
        ),
        "managers": list(
            User.objects.filter(role=Role.MANAGER, is_active=True).order_by("full_name")
        )
        if user.is_admin
        else [],
        "this_year": timezone.localdate().year,
        "errors": errors,
    }
    return render(request, "reports/budget/budgets.html", context, status=400 if errors else 200)


@login_required
def budget_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A budget by month, and the form to enter an amount (POST)."""
    user = request.user
    _refuse_reps(user)
    budget = get_object_or_404(budgets_visible_to(user).select_related("manager"), pk=pk)
    errors = {}
    if request.method == "POST":
        try:
            try:
                amount = Decimal(request.POST.get("amount", "").strip())
                month = int(request.POST.get("month", ""))
            except (InvalidOperation, ValueError):
                raise ValidationError({"amount": ["Give a month and an amount."]}) from None
            budget_amount_set(
                budget=budget,
                kind=request.POST.get("kind", ""),
                category=request.POST.get("category", ""),
                month=month,
                amount=amount,
                by=user,
            )
        except PermissionDenied as error:
            raise Forbidden(str(error)) from error
        except ValidationError as error:
            errors = _errors(error)
        else:
            messages.success(request, "Saved.")
            return redirect("budget", pk=budget.pk)
    elif request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405)
    figures = budget_figures(budget, timezone.localdate())
    context = {
        "budget": budget,
        "figures": figures,
        "chart": budget_chart("budget-chart", figures),
        "currency": reporting_currency(),
        "kinds": AmountKind.choices
        if user.is_admin
        else [(AmountKind.ACTUAL, AmountKind.ACTUAL.label)],
        "categories": SpendCategory.choices,
        "months": [(m, datetime.date(2000, m, 1).strftime("%B")) for m in range(1, 13)],
        "errors": errors,
        "category_labels": dict(SpendCategory.choices),
    }
    return render(request, "reports/budget/budget.html", context, status=400 if errors else 200)
