"""Every write of compensation: plans (admins), statements computed and approved (admins)."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from pipeline.models import Product
from reports.compensation.calc import HUNDRED, Figures, cents, statement_changes, statement_figures
from reports.compensation.models import (
    CommissionKind,
    CommissionPlan,
    CommissionStatement,
    PlanProductBonus,
    PlanTier,
    StatementLine,
    StatementStatus,
)
from reports.compensation.selectors import (
    clawback_rows,
    credit_rows,
    earlier_pay,
    month_quota,
    plan_for,
    plan_terms,
    replaced_rows,
    reversal_rows,
)
from salesmgr.errors import PermissionDenied
from salesmgr.models import User

Errors = dict[str, list[str]]
PLAN_FIELDS = (
    "name",
    "effective_from",
    "effective_to",
    "base_salary",
    "on_target_earnings",
    "kind",
    "flat_rate",
    "cap",
    "new_logo_bonus",
    "clawback_days",
)


@dataclass(frozen=True)
class TierSpec:
    from_attainment: Decimal
    rate: Decimal


@dataclass(frozen=True)
class BonusSpec:
    product: Product
    amount: Decimal


def _refuse_unless_admin(by: User, what: str) -> None:
    if not by.is_admin:
        raise PermissionDenied(f"Only admins {what}.")


def plan_errors(
    *,
    rep: User,
    effective_from: datetime.date,
    effective_to: datetime.date | None,
    kind: str,
    tiers: list[TierSpec],
    bonuses: list[BonusSpec],
    exclude_pk: int | None = None,
) -> Errors:
    """What is wrong with a plan: dates backwards, overlap with the rep's other plans, tiers, bonuses."""
    errors: Errors = {}
    if effective_to is not None and effective_to < effective_from:
        errors["effective_to"] = ["The plan must end on or after the day it starts."]
    elif rep.role != "rep":
        errors["rep"] = ["Commission plans are for reps."]
    else:
        overlapping = CommissionPlan.objects.filter(rep=rep).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=effective_from)
        )
        if effective_to is not None:
            overlapping = overlapping.filter(effective_from__lte=effective_to)
        if exclude_pk is not None:
            overlapping = overlapping.exclude(pk=exclude_pk)
        other = overlapping.order_by("effective_from").first()
        if other is not None:
            ends = f"{other.effective_to:%Y-%m-%d}" if other.effective_to else "open-ended"
            errors["effective_from"] = [
                f"{rep.display_name} already has a plan from {other.effective_from:%Y-%m-%d} "
                f"({ends}): one plan per rep per period."
            ]
    starts = [tier.from_attainment for tier in tiers]
    if kind == CommissionKind.TIERED and not tiers:
        errors["tiers"] = ["A tiered plan needs at least one tier."]
    elif len(set(starts)) != len(starts):
        errors["tiers"] = ["Each tier starts at a different attainment."]
    elif any(t.from_attainment < 0 or t.rate < 0 or t.rate > HUNDRED for t in tiers):
        errors["tiers"] = ["Attainments are 0% or more and rates from 0% to 100%."]
    products = [bonus.product.pk for bonus in bonuses]
    if len(set(products)) != len(products):
        errors["product_bonuses"] = ["Name each product once."]
    elif any(bonus.amount < 0 for bonus in bonuses):
        errors["product_bonuses"] = ["A bonus is 0 or more."]
    return errors


def _write_terms(
    plan: CommissionPlan, tiers: list[TierSpec] | None, bonuses: list[BonusSpec] | None
) -> None:
    if tiers is not None:
        PlanTier.objects.filter(plan=plan).delete()
        PlanTier.objects.bulk_create(
            PlanTier(plan=plan, from_attainment=t.from_attainment, rate=t.rate) for t in tiers
        )
    if bonuses is not None:
        PlanProductBonus.objects.filter(plan=plan).delete()
        PlanProductBonus.objects.bulk_create(
            PlanProductBonus(plan=plan, product=b.product, amount=b.amount) for b in bonuses
        )


def plan_create(
    *,
    by: User,
    rep: User,
    name: str,
    effective_from: datetime.date,
    effective_to: datetime.date | None = None,
    base_salary: Decimal = Decimal(0),
    on_target_earnings: Decimal = Decimal(0),
    kind: str = CommissionKind.FLAT,
    flat_rate: Decimal = Decimal(0),
    cap: Decimal | None = None,
    new_logo_bonus: Decimal = Decimal(0),
    clawback_days: int = 90,
    tiers: list[TierSpec] | None = None,
    product_bonuses: list[BonusSpec] | None = None,
) -> CommissionPlan:
    """Give a rep a commission plan (admins). Refused when it overlaps another of theirs."""
    _refuse_unless_admin(by, "set commission plans")
    tiers, product_bonuses = tiers or [], product_bonuses or []
    with transaction.atomic():
        User.objects.select_for_update().filter(
            pk=rep.pk
        ).first()  # one writer per rep: no racing overlap
        errors = plan_errors(
            rep=rep,
            effective_from=effective_from,
            effective_to=effective_to,
            kind=kind,
            tiers=tiers,
            bonuses=product_bonuses,
        )
        if errors:
            raise ValidationError(errors)
        plan = CommissionPlan.objects.create(
            rep=rep,
            name=name.strip() or "Commission plan",
            effective_from=effective_from,
            effective_to=effective_to,
            base_salary=base_salary,
            on_target_earnings=on_target_earnings,
            kind=kind,
            flat_rate=flat_rate,
            cap=cap,
            new_logo_bonus=new_logo_bonus,
            clawback_days=clawback_days,
        )
        _write_terms(plan, tiers, product_bonuses)
    return plan


def plan_update(
    *,
    plan: CommissionPlan,
    by: User,
    tiers: list[TierSpec] | None = None,
    product_bonuses: list[BonusSpec] | None = None,
    **changes,
) -> CommissionPlan:
    """Change a plan (admins); tiers or bonuses, when given, replace the plan's."""
    _refuse_unless_admin(by, "change commission plans")
    unknown = set(changes) - set(PLAN_FIELDS)
    if unknown:
        raise ValueError(f"Not plan fields: {sorted(unknown)}")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=plan.rep_id).first()
        for name, value in changes.items():
            setattr(plan, name, value)
        errors = plan_errors(
            rep=plan.rep,
            effective_from=plan.effective_from,
            effective_to=plan.effective_to,
            kind=plan.kind,
            tiers=tiers
            if tiers is not None
            else [TierSpec(t.from_attainment, t.rate) for t in plan.tiers.all()],
            bonuses=product_bonuses or [],
            exclude_pk=plan.pk,
        )
        if errors:
            raise ValidationError(errors)
        plan.save()
        _write_terms(plan, tiers, product_bonuses)
    return plan


def plan_delete(*, plan: CommissionPlan, by: User) -> None:
    """Delete a plan (admins); statements computed from it keep its name and their lines."""
    _refuse_unless_admin(by, "delete commission plans")
    plan.delete()


def statement_preview(
    *, rep: User, month: datetime.date, as_of: datetime.date, what_if_ids: tuple[int, ...] = ()
) -> tuple[CommissionPlan | None, Figures]:
    """The statement of ``rep`` for ``month`` as of ``as_of``, computed and not stored.

    ``what_if_ids`` are open deals counted as won on ``as_of`` (the rep's "what if I close these").
    """
    month = month.replace(day=1)
    plan = plan_for(rep.pk, month)
    credits = credit_rows(
        rep_id=rep.pk, month=month, as_of=as_of, plan=plan, what_if_ids=what_if_ids
    )
    reversals = reversal_rows(rep_id=rep.pk, month=month, as_of=as_of, plan=plan)
    paid = earlier_pay(
        rep.pk,
        month,
        [credit.deal_id for credit in credits] + [reversal.deal_id for reversal in reversals],
    )
    clawbacks = clawback_rows(reversals=reversals, paid=paid)
    figures = statement_figures(
        terms=plan_terms(plan),
        quota=month_quota(rep.pk, month),
        credits=credits,
        clawbacks=clawbacks + replaced_rows(credits=credits, clawbacks=clawbacks, paid=paid),
    )
    return plan, figures


def _line_dicts(lines) -> list[dict]:
    return [
        {
            "kind": line.kind,
            "deal_ref": line.deal_ref,
            "deal_name": line.deal_name,
            "amount": line.amount,
        }
        for line in lines
    ]


def statement_compute(
    *, rep: User, month: datetime.date, as_of: datetime.date | None = None, by: User | None
) -> CommissionStatement:
    """Compute and store the rep's statement for ``month`` as of ``as_of`` (default today), as a new version.

    The previous version, if a draft, is superseded; an approved one stays as it was paid.
    ``changes`` records the lines added, removed and changed against it, and the totals.
    """
    if by is not None:
        _refuse_unless_admin(by, "compute commission statements")
    month = month.replace(day=1)
    as_of = as_of or timezone.localdate()
    if as_of < month:
        raise ValidationError(
            {"as_of": ["A statement is computed as of a day in or after its month."]}
        )
    plan, figures = statement_preview(rep=rep, month=month, as_of=as_of)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=rep.pk).first()
        previous = (
            CommissionStatement.objects.filter(rep=rep, month=month).order_by("-version").first()
        )
        statement = CommissionStatement.objects.create(
            rep=rep,
            month=month,
            version=previous.version + 1 if previous else 1,
            as_of=as_of,
            plan=plan,
            plan_name=plan.name if plan else "",
            currency=settings.REPORTING_CURRENCY,
            quota=figures.quota,
            credited_value=figures.credited_value,
            attainment=figures.attainment,
            base_pay=cents(plan.base_salary / 12) if plan else Decimal("0.00"),
            commission=figures.commission,
            bonuses=figures.bonuses,
            cap_adjustment=figures.cap_adjustment,
            clawbacks=figures.clawbacks,
            total=figures.total,
            computed_by=by,
        )
        lines = StatementLine.objects.bulk_create(
            StatementLine(
                statement=statement,
                kind=line.kind,
                deal_id=line.deal_id,
                deal_ref=line.deal_id,
                deal_name=line.deal_name[:200],
                closed_at=line.closed_at,
                value=line.value,
                share=line.share,
                credited=line.credited,
                amount=line.amount,
                note=line.note[:200],
                position=position,
            )
            for position, line in enumerate(figures.lines)
        )
        if previous is not None:
            statement.changes = statement_changes(
                _line_dicts(previous.lines.all()),
                _line_dicts(lines),
                previous.total,
                statement.total,
            )
            statement.save(update_fields=["changes"])
            if previous.status == StatementStatus.DRAFT:
                CommissionStatement.objects.filter(pk=previous.pk).update(
                    status=StatementStatus.SUPERSEDED
                )
    return statement


def statement_approve(*, statement: CommissionStatement, by: User) -> CommissionStatement:
    """Approve the current version of a statement (admins); it is locked from then on."""
    _refuse_unless_admin(by, "approve commission statements")
    with transaction.atomic():
        locked = CommissionStatement.objects.select_for_update().get(pk=statement.pk)
        newer = CommissionStatement.objects.filter(
            rep_id=locked.rep_id, month=locked.month, version__gt=locked.version
        ).exists()
        if newer or locked.status != StatementStatus.DRAFT:
            raise ValidationError(
                {
                    "status": [
                        f"Only the current draft can be approved; this version is {locked.get_status_display().lower()}."
                    ]
                }
            )
        locked.status = StatementStatus.APPROVED
        locked.approved_at = timezone.now()
        locked.approved_by = by
        locked.save(update_fields=["status", "approved_at", "approved_by"])
    return locked


def statements_compute_month(
    *, month: datetime.date, as_of: datetime.date | None = None, by: User | None
) -> list[CommissionStatement]:
    """Compute (a new version of) the statement of every rep with a plan in ``month`` (admins)."""
    if by is not None:
        _refuse_unless_admin(by, "compute commission statements")
    month = month.replace(day=1)
    last = (month + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    rep_ids = (
        CommissionPlan.objects.filter(effective_from__lte=last)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=month))
        .values_list("rep_id", flat=True)
        .distinct()
    )
    return [
        statement_compute(rep=rep, month=month, as_of=as_of, by=by)
        for rep in User.objects.filter(pk__in=rep_ids, is_active=True).order_by("pk")
    ]
