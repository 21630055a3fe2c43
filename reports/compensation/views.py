"""Compensation pages: statements (a rep's own, a manager's team, everyone for admins), a statement
with its lines, the what-if, plans, and the payroll export."""

import datetime
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from pipeline.money import reporting_currency
from pipeline.selectors import products_visible_to
from reports.catalog.base import Column
from reports.catalog.exports import csv_response, xlsx_response
from reports.compensation.models import CommissionKind, CommissionPlan
from reports.compensation.selectors import (
    current_statements,
    plans_visible_to,
    statement_lines,
    statements_visible_to,
    what_if_deals,
)
from reports.compensation.services import (
    BonusSpec,
    TierSpec,
    plan_create,
    plan_delete,
    plan_update,
    statement_approve,
    statement_compute,
    statement_preview,
    statements_compute_month,
)
from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.errors import PermissionDenied
from salesmgr.models import Role, User
from salesmgr.selectors import users_visible_to

EXPORT_COLUMNS = [
    Column("rep", "Rep"),
    Column("username", "Username"),
    Column("month", "Month", "date"),
    Column("version", "Version", "int"),
    Column("status", "Status"),
    Column("plan", "Plan"),
    Column("base_pay", "Base pay", "money"),
    Column("commission", "Commission", "money"),
    Column("bonuses", "Bonuses", "money"),
    Column("cap_adjustment", "Cap", "money"),
    Column("clawbacks", "Clawbacks", "money"),
    Column("total", "Variable pay", "money"),
    Column("payable", "Payable", "money"),
    Column("currency", "Currency"),
]

LARGEST = Decimal("1e13")  # money fields hold 16 digits, 2 of them decimals


def _month_param(request: HttpRequest, default: datetime.date) -> datetime.date:
    """``?month=YYYY-MM`` as the month's first day; a bad value is a 400."""
    raw = request.GET.get("month", "")
    if not raw:
        return default
    try:
        month = datetime.date.fromisoformat(f"{raw[:7]}-01")
    except ValueError:
        raise ValidationError("month: give the month as YYYY-MM.") from None
    if not 1900 <= month.year <= 9000:
        raise ValidationError("month: give a month from 1900 to 9000.")
    return month


def _this_month() -> datetime.date:
    return timezone.localdate().replace(day=1)


def _last_month() -> datetime.date:
    return (_this_month() - datetime.timedelta(days=1)).replace(day=1)


def _bad_request(error: ValidationError) -> HttpResponse:
    return HttpResponse(" ".join(error.messages), status=400, content_type="text/plain")


@login_required
@require_safe
def statements_page(request: HttpRequest) -> HttpResponse:
    """A rep's own statements by month; a manager's team (or an admin's everyone) for one month.

    Fixed queries: one for the statements shown (their reps joined), whatever their number.
    """
    user = request.user
    try:
        month = _month_param(request, _last_month())
    except ValidationError as error:
        return _bad_request(error)
    visible = current_statements(statements_visible_to(user)).select_related("rep")
    if user.is_rep:
        rows = list(visible.filter(rep=user).order_by("-month")[:24])
    else:
        rows = list(visible.filter(month=month).order_by("rep__full_name", "rep__username"))
    context = {
        "statements": rows,
        "month": month,
        "previous_month": (month - datetime.timedelta(days=1)).replace(day=1),
        "next_month": (month + datetime.timedelta(days=32)).replace(day=1),
        "currency": reporting_currency(),
        "team_view": not user.is_rep,
        "month_total": sum((s.total for s in rows), Decimal(0)),
    }
    return render(request, "reports/compensation/statements.html", context)


@login_required
@require_POST
def statements_compute_view(request: HttpRequest) -> HttpResponse:
    """Admins: compute every rep's statement for a month (a new version where one exists)."""
    try:
        month = datetime.date.fromisoformat(f"{request.POST.get('month', '')[:7]}-01")
    except ValueError:
        return _bad_request(ValidationError("month: give the month as YYYY-MM."))
    if not 1900 <= month.year <= 9000:
        return _bad_request(ValidationError("month: give a month from 1900 to 9000."))
    try:
        made = statements_compute_month(month=month, by=request.user)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, f"Computed {len(made)} statements for {month:%B %Y}.")
    return redirect(f"/compensation/?month={month:%Y-%m}")


@login_required
@require_safe
def statement_page(request: HttpRequest, pk: int) -> HttpResponse:
    statement = get_object_or_404(
        statements_visible_to(request.user).select_related("rep", "approved_by"), pk=pk
    )
    versions = list(
        statements_visible_to(request.user)
        .filter(rep_id=statement.rep_id, month=statement.month)
        .order_by("-version")
        .only("pk", "version", "status", "total", "as_of", "computed_at")
    )
    context = {
        "statement": statement,
        "lines": list(statement_lines(statement)),
        "versions": versions,
        "is_current": versions[0].pk == statement.pk,
        "currency": statement.currency,
    }
    return render(request, "reports/compensation/statement.html", context)


@login_required
@require_POST
def statement_action(request: HttpRequest, pk: int, what: str) -> HttpResponse:
    """Admins: approve the current draft, or recompute the month (a new version)."""
    statement = get_object_or_404(statements_visible_to(request.user), pk=pk)
    try:
        if what == "approve":
            statement = statement_approve(statement=statement, by=request.user)
            messages.success(request, "Statement approved: it is locked now.")
        elif what == "recompute":
            statement = statement_compute(rep=statement.rep, month=statement.month, by=request.user)
            messages.success(request, f"Recomputed as version {statement.version}.")
        else:
            raise Http404("No such action.")
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("compensation-statement", pk=statement.pk)


@login_required
@require_safe
def what_if_page(request: HttpRequest) -> HttpResponse:
    """The rep's open deals to tick, and their statement for this month as if the ticked ones closed today."""
    user = request.user
    rep = user
    if request.GET.get("rep"):
        if not request.GET["rep"].isdigit():
            return _bad_request(ValidationError("rep: give a person's id."))
        rep = get_object_or_404(
            users_visible_to(user).filter(role=Role.REP), pk=int(request.GET["rep"])
        )
        if user.is_rep and rep.pk != user.pk:
            raise Http404
    today = timezone.localdate()
    month = today.replace(day=1)
    candidates = list(
        what_if_deals(user, rep.pk)
        .select_related("account")
        .order_by("expected_close_date", "pk")[:200]
    )
    chosen = {int(v) for v in request.GET.getlist("deal") if v.isdigit()}
    ticked = tuple(sorted(chosen & {deal.pk for deal in candidates}))
    plan, actual = statement_preview(rep=rep, month=month, as_of=today)
    figures = None
    if ticked:
        _, figures = statement_preview(rep=rep, month=month, as_of=today, what_if_ids=ticked)
    context = {
        "rep": rep,
        "month": month,
        "plan": plan,
        "actual": actual,
        "figures": figures,
        "candidates": candidates,
        "ticked": set(ticked),
        "currency": reporting_currency(),
        "reps": list(
            users_visible_to(user).filter(role=Role.REP, is_active=True).order_by("full_name")
        )
        if not user.is_rep
        else [],
    }
    return render(request, "reports/compensation/what_if.html", context)


def _tiers(text: str) -> list[TierSpec]:
    """ "0:5, 100:8, 150:12" as tiers (from attainment %: rate %)."""
    found = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        start, _, rate = part.partition(":")
        try:
            tier = TierSpec(Decimal(start.strip()), Decimal(rate.strip()))
        except InvalidOperation:
            raise ValidationError(
                {"tiers": ["Write tiers as attainment:rate pairs, e.g. 0:5, 100:8."]}
            ) from None
        if not tier.from_attainment.is_finite() or not 0 <= tier.from_attainment < 10000:
            raise ValidationError({"tiers": ["Attainments are from 0% to 9999%."]})
        if not tier.rate.is_finite() or not 0 <= tier.rate <= 100:
            raise ValidationError({"tiers": ["Rates are from 0% to 100%."]})
        found.append(tier)
    return found


def _decimal(request: HttpRequest, name: str, default: str | None = "0") -> Decimal | None:
    raw = request.POST.get(name, "").strip()
    if not raw:
        return Decimal(default) if default is not None else None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValidationError({name: ["Give a number."]}) from None
    if not value.is_finite() or value < 0:
        raise ValidationError({name: ["Give a number of 0 or more."]})
    if value >= LARGEST:
        raise ValidationError({name: ["Give a smaller number."]})
    return value


def _bonuses(user: User, text: str) -> list[BonusSpec]:
    """ "PRO-1: 500, ADD-2: 200" as product bonuses (product SKU: amount), in one query."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        sku, _, amount = part.rpartition(":")
        try:
            pairs.append((sku.strip(), Decimal(amount.strip())))
        except InvalidOperation:
            raise ValidationError(
                {"product_bonuses": ["Write bonuses as SKU:amount pairs, e.g. PRO-1: 500."]}
            ) from None
    products = {
        product.sku: product
        for product in products_visible_to(user).filter(sku__in=[sku for sku, _ in pairs])
    }
    missing = [sku for sku, _ in pairs if sku not in products]
    if missing:
        raise ValidationError({"product_bonuses": [f"No product with SKU {', '.join(missing)}."]})
    return [BonusSpec(products[sku], amount) for sku, amount in pairs]


def _plan_terms(request: HttpRequest) -> dict:
    """The plan's fields from the form (not its rep), each bad one a ValidationError naming it."""
    try:
        effective_from = datetime.date.fromisoformat(request.POST.get("effective_from", ""))
    except ValueError:
        raise ValidationError({"effective_from": ["Give the date as YYYY-MM-DD."]}) from None
    to_raw = request.POST.get("effective_to", "").strip()
    try:
        effective_to = datetime.date.fromisoformat(to_raw) if to_raw else None
    except ValueError:
        raise ValidationError({"effective_to": ["Give the date as YYYY-MM-DD."]}) from None
    kind = request.POST.get("kind", CommissionKind.FLAT)
    if kind not in CommissionKind.values:
        raise ValidationError({"kind": ["Choose flat or tiered."]})
    flat_rate = _decimal(request, "flat_rate")
    if flat_rate > 100:
        raise ValidationError({"flat_rate": ["Give a rate from 0% to 100%."]})
    clawback_days = _decimal(request, "clawback_days", "90")
    if clawback_days != clawback_days.to_integral_value() or clawback_days > 3650:
        raise ValidationError({"clawback_days": ["Give whole days from 0 to 3650."]})
    return {
        "name": request.POST.get("name", "")[:200],
        "effective_from": effective_from,
        "effective_to": effective_to,
        "base_salary": _decimal(request, "base_salary"),
        "on_target_earnings": _decimal(request, "on_target_earnings"),
        "kind": kind,
        "flat_rate": flat_rate,
        "cap": _decimal(request, "cap", None),
        "new_logo_bonus": _decimal(request, "new_logo_bonus"),
        "clawback_days": int(clawback_days),
        "tiers": _tiers(request.POST.get("tiers", "")),
    }


def _error_dict(error: ValidationError) -> dict:
    return error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}


@login_required
def plans_page(request: HttpRequest) -> HttpResponse:
    """Plans the user may see; admins add one here and edit or delete one on its own page."""
    user = request.user
    errors: dict = {}
    if request.method == "POST":
        if not user.is_admin:
            raise Forbidden("Only admins set commission plans.")
        try:
            raw_rep = request.POST.get("rep", "")
            rep = (
                users_visible_to(user).filter(pk=int(raw_rep)).first()
                if raw_rep.isdigit()
                else None
            )
            if rep is None:
                raise ValidationError({"rep": ["Choose a rep."]})
            plan_create(
                by=user,
                rep=rep,
                product_bonuses=_bonuses(request.user, request.POST.get("product_bonuses", "")),
                **_plan_terms(request),
            )
        except ValidationError as error:
            errors = _error_dict(error)
        else:
            messages.success(request, f"Plan added for {rep.display_name}.")
            return redirect("compensation-plans")
    elif request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405)
    plans = list(
        plans_visible_to(user)
        .select_related("rep")
        .prefetch_related("tiers", "product_bonuses__product")
        .order_by("rep__full_name", "-effective_from")
    )
    context = {
        "plans": plans,
        "errors": errors,
        "form": request.POST if errors else {},
        "reps": list(User.objects.filter(role=Role.REP, is_active=True).order_by("full_name"))
        if user.is_admin
        else [],
        "currency": reporting_currency(),
    }
    return render(
        request, "reports/compensation/plans.html", context, status=400 if errors else 200
    )


def _admin_plan(request: HttpRequest, pk: int) -> CommissionPlan:
    """The plan, for an admin; a plan the user cannot see is a 404, one they only read a 403."""
    plan = get_object_or_404(
        plans_visible_to(request.user)
        .select_related("rep")
        .prefetch_related("tiers", "product_bonuses__product"),
        pk=pk,
    )
    if not request.user.is_admin:
        raise Forbidden("Only admins change commission plans.")
    return plan


def _plan_form(plan: CommissionPlan) -> dict:
    """The plan as the edit form shows it."""
    return {
        "name": plan.name,
        "effective_from": f"{plan.effective_from:%Y-%m-%d}",
        "effective_to": f"{plan.effective_to:%Y-%m-%d}" if plan.effective_to else "",
        "base_salary": str(plan.base_salary),
        "on_target_earnings": str(plan.on_target_earnings),
        "kind": plan.kind,
        "flat_rate": f"{plan.flat_rate.normalize():f}",
        "tiers": ", ".join(
            f"{t.from_attainment.normalize():f}:{t.rate.normalize():f}"
            for t in sorted(plan.tiers.all(), key=lambda t: t.from_attainment)
        ),
        "cap": "" if plan.cap is None else str(plan.cap),
        "new_logo_bonus": str(plan.new_logo_bonus),
        "product_bonuses": ", ".join(
            f"{b.product.sku}: {b.amount}"
            for b in sorted(plan.product_bonuses.all(), key=lambda b: b.product.sku)
        ),
        "clawback_days": str(plan.clawback_days),
    }


@login_required
def plan_edit_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Admins: change a plan (its terms, tiers and product bonuses; it stays with its rep).

    Fixed queries: the plan with its tiers and bonuses, and the statements computed from it.
    """
    plan = _admin_plan(request, pk)
    errors: dict = {}
    if request.method == "POST":
        try:
            terms = _plan_terms(request)
            bonuses = _bonuses(request.user, request.POST.get("product_bonuses", ""))
            tiers = terms.pop("tiers")
            plan_update(plan=plan, by=request.user, tiers=tiers, product_bonuses=bonuses, **terms)
        except ValidationError as error:
            errors = _error_dict(error)
            plan = _admin_plan(request, pk)  # as stored: the failed edit wrote nothing
        except PermissionDenied as error:
            raise Forbidden(str(error)) from error
        else:
            messages.success(request, f"Plan {plan.name} for {plan.rep.display_name} saved.")
            return redirect("compensation-plans")
    elif request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405)
    context = {
        "plan": plan,
        "errors": errors,
        "form": request.POST if errors else _plan_form(plan),
        "statement_count": plan.statements.count(),
        "currency": reporting_currency(),
    }
    return render(
        request, "reports/compensation/plan_edit.html", context, status=400 if errors else 200
    )


@login_required
@require_POST
def plan_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Admins: delete a plan; statements computed from it keep its name, figures and lines."""
    plan = _admin_plan(request, pk)
    try:
        plan_delete(plan=plan, by=request.user)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, f"Plan {plan.name} for {plan.rep.display_name} deleted.")
    return redirect("compensation-plans")


@login_required
@require_safe
def statements_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """Admins: the month's current statements for payroll, as CSV or XLSX (recorded in the audit log)."""
    if fmt not in ("csv", "xlsx"):
        raise Http404("Statements export as CSV or XLSX.")
    if not request.user.is_admin:
        raise Forbidden("Only admins export statements for payroll.")
    try:
        month = _month_param(request, _last_month())
    except ValidationError as error:
        return _bad_request(error)
    statements = (
        current_statements(statements_visible_to(request.user))
        .filter(month=month)
        .select_related("rep")
        .order_by("rep__full_name", "rep__username")
    )
    rows = (
        {
            "rep": s.rep.display_name,
            "username": s.rep.username,
            "month": s.month,
            "version": s.version,
            "status": s.get_status_display(),
            "plan": s.plan_name,
            "base_pay": s.base_pay,
            "commission": s.commission,
            "bonuses": s.bonuses,
            "cap_adjustment": s.cap_adjustment,
            "clawbacks": s.clawbacks,
            "total": s.total,
            "payable": s.base_pay + s.total,
            "currency": s.currency,
        }
        for s in statements.iterator(chunk_size=500)
    )
    audit_record(
        AuditKind.EXPORT,
        request=request,
        what="commission statements",
        format=fmt,
        month=f"{month:%Y-%m}",
    )
    filename = f"commission-statements-{month:%Y-%m}"
    if fmt == "csv":
        return csv_response(EXPORT_COLUMNS, rows, filename)
    return xlsx_response(EXPORT_COLUMNS, rows, filename, f"Commissions {month:%Y-%m}")
