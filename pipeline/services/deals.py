"""Writes to deals: create, update, move through stages, reassign, delete.

Every function here that changes a deal locks its row, checks the version the
caller last saw, bumps ``version``, records who changed what (the model's
history) and rings ``deals_changed`` after commit.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pipeline.checks.recycle import delete_refusal, restore_refusal
from pipeline.models import (
    DELETED_KEPT_FOR,
    Account,
    Deal,
    DealLineItem,
    ForecastCategory,
    LostReason,
    Pipeline,
    Product,
    Stage,
    StageKind,
    StageTransition,
    line_total,
)
from pipeline.services.pipelines import pipeline_check_ready
from pipeline.signals import deals_changed
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for

UPDATABLE_FIELDS = ("name", "account", "amount", "currency", "expected_close_date", "forecast_category")


@dataclass(frozen=True)
class LineItemSpec:
    product: Product
    quantity: Decimal
    unit_price: Decimal | None = None  # the product's list price when None
    discount_pct: Decimal = Decimal("0")


def _announce(deal_ids: list[int]) -> None:
    transaction.on_commit(lambda: deals_changed.send(sender=Deal, deal_ids=deal_ids))


def _lock(deal: Deal, expected_version: int | None) -> Deal:
    """Lock the deal's row and check the caller saw its current version."""
    try:
        locked = Deal.objects.select_for_update().get(pk=deal.pk)
    except Deal.DoesNotExist:
        raise ValidationError({"deal": "This deal no longer exists."}) from None
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError(
            f"The deal was changed by someone else (version {locked.version}, you had {expected_version}).",
            current_version=locked.version,
        )
    return locked


def _stamp(deal: Deal, by: User | None, at: datetime.datetime | None = None) -> None:
    deal.version += 1
    deal.updated_at = timezone.now()
    deal._history_user = by
    if at is not None:
        deal._history_date = at


def _check_account(account: Account) -> None:
    if account.deleted_at is not None:
        raise ValidationError({"account": f"Account {account.name!r} is deleted."})


def _check_fields(
    *, name: str, amount: Decimal, currency: str, forecast_category: str
) -> None:
    errors = {}
    if not name or not name.strip():
        errors["name"] = "A deal needs a name."
    if amount is None or Decimal(amount) < 0:
        errors["amount"] = "The amount cannot be negative."
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper()):
        errors["currency"] = "The currency must be a three-letter ISO code such as USD."
    if forecast_category not in ForecastCategory.values:
        errors["forecast_category"] = f"Unknown forecast category {forecast_category!r}."
    if errors:
        raise ValidationError(errors)


def _check_lost_reason(stage: Stage, lost_reason: LostReason | None) -> None:
    if stage.kind == StageKind.LOST and lost_reason is None:
        raise ValidationError({"lost_reason": "Say why the deal was lost."})
    if stage.kind != StageKind.LOST and lost_reason is not None:
        raise ValidationError({"lost_reason": "Only a lost deal has a lost reason."})
    if lost_reason is not None and not lost_reason.is_active:
        raise ValidationError({"lost_reason": f"{lost_reason.name!r} is no longer offered."})


def deal_create(
    *,
    by: User,
    name: str,
    account: Account,
    pipeline: Pipeline,
    expected_close_date: datetime.date,
    owner: User | None = None,
    stage: Stage | None = None,
    amount: Decimal = Decimal("0.00"),
    currency: str | None = None,
    forecast_category: str = ForecastCategory.PIPELINE,
    lost_reason: LostReason | None = None,
    line_items: list[LineItemSpec] | None = None,
    external_id: str | None = None,
) -> Deal:
    """Open a deal in ``stage`` (the pipeline's first open stage by default).

    Writes the creating transition; a deal created in a closed stage is closed
    at once. Line items, when given, set the amount.
    """
    owner = owner or by
    if not may_act_for(actor=by, owner_id=owner.pk):
        raise PermissionDenied("You cannot create deals for that person.")
    if not owner.is_active:
        raise ValidationError({"owner": f"{owner} is deactivated."})
    currency = (currency or settings.DEFAULT_CURRENCY).upper()
    _check_fields(name=name, amount=amount, currency=currency, forecast_category=forecast_category)
    _check_account(account)
    pipeline_check_ready(pipeline)
    if stage is None:
        stage = pipeline.stages.filter(kind=StageKind.OPEN).order_by("order").first()
    elif stage.pipeline_id != pipeline.pk:
        raise ValidationError({"stage": f"Stage {stage.name!r} is not in pipeline {pipeline.name!r}."})
    _check_lost_reason(stage, lost_reason)
    rows, total = _build_line_items(line_items or [])
    if rows:
        amount = total

    now = timezone.now()
    with transaction.atomic():
        deal = Deal(
            name=name.strip(),
            account=account,
            owner=owner,
            pipeline=pipeline,
            stage=stage,
            status=stage.kind,
            amount=Decimal(amount),
            currency=currency,
            expected_close_date=expected_close_date,
            forecast_category=forecast_category,
            lost_reason=lost_reason,
            created_at=now,
            updated_at=now,
            stage_entered_at=now,
            closed_at=now if stage.is_closed else None,
            external_id=external_id or None,
        )
        deal._history_user = by
        deal.save()
        StageTransition.objects.create(deal=deal, from_stage=None, to_stage=stage, at=now, by=by)
        _save_line_items(deal, rows)
        _announce([deal.pk])
    return deal


def deal_update(*, deal: Deal, by: User, expected_version: int | None, **changes) -> Deal:
    """Change a deal's name, account, amount, currency, close date or forecast category.

    Stage and owner have their own services (``deal_move``, ``deal_reassign``).
    A deal with line items takes its amount from them.
    """
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError({field: "This field cannot be changed here." for field in sorted(unknown)})
    with transaction.atomic():
        locked = _lock(deal, expected_version)
        if locked.deleted_at is not None:
            raise ValidationError({"deal": "A deleted deal cannot be changed; restore it first."})
        if "amount" in changes and changes["amount"] != locked.amount and locked.line_items.exists():
            raise ValidationError({"amount": "This deal's amount is the total of its line items; change those."})
        if "account" in changes:
            _check_account(changes["account"])
        if "currency" in changes and isinstance(changes["currency"], str):
            changes["currency"] = changes["currency"].upper()
        changed = {f: v for f, v in changes.items() if getattr(locked, f) != v}
        if not changed:
            return locked
        for field, value in changed.items():
            setattr(locked, field, value)
        _check_fields(
            name=locked.name,
            amount=locked.amount,
            currency=locked.currency,
            forecast_category=locked.forecast_category,
        )
        locked.name = locked.name.strip()
        _stamp(locked, by)
        locked.save()
        _announce([locked.pk])
    return locked


def deal_move(
    *,
    deal: Deal,
    to_stage: Stage,
    by: User,
    expected_version: int | None,
    lost_reason: LostReason | None = None,
    at: datetime.datetime | None = None,
) -> Deal:
    """Move a deal to another stage of its pipeline, recording the transition.

    Entering a won or lost stage sets ``closed_at``; reopening clears it. A
    lost stage needs a reason. A stale ``expected_version`` raises
    ``ConflictError`` and writes nothing.
    """
    with transaction.atomic():
        locked = _lock(deal, expected_version)
        if locked.deleted_at is not None:
            raise ValidationError({"deal": "A deleted deal cannot be moved; restore it first."})
        if to_stage.pipeline_id != locked.pipeline_id:
            raise ValidationError({"stage": f"Stage {to_stage.name!r} is not in this deal's pipeline."})
        if to_stage.pk == locked.stage_id:
            raise ValidationError({"stage": f"The deal is already in {to_stage.name!r}."})
        _check_lost_reason(to_stage, lost_reason)
        now = timezone.now()
        at = at or now
        if at > now:
            raise ValidationError({"at": "A move cannot be dated in the future."})
        if at < locked.stage_entered_at:
            raise ValidationError({"at": "A move cannot be dated before the deal entered its current stage."})

        from_stage_id = locked.stage_id
        from_stage_entered_at = locked.stage_entered_at
        locked.stage = to_stage
        locked.status = to_stage.kind
        locked.stage_entered_at = at
        locked.closed_at = at if to_stage.is_closed else None
        locked.lost_reason = lost_reason
        _stamp(locked, by, at)
        locked.save()
        StageTransition.objects.create(
            deal=locked,
            from_stage_id=from_stage_id,
            from_stage_entered_at=from_stage_entered_at,
            to_stage=to_stage,
            at=at,
            by=by,
        )
        _announce([locked.pk])
    return locked


def deal_reassign(*, deal: Deal, new_owner: User, by: User, expected_version: int | None) -> Deal:
    """Give a deal to another person; managers reassign within their team, admins anywhere."""
    if by.is_rep:
        raise PermissionDenied("Reps cannot change a deal's owner.")
    if not (may_act_for(actor=by, owner_id=deal.owner_id) and may_act_for(actor=by, owner_id=new_owner.pk)):
        raise PermissionDenied("You can only reassign deals within your team.")
    if not new_owner.is_active:
        raise ValidationError({"owner": f"{new_owner} is deactivated."})
    with transaction.atomic():
        locked = _lock(deal, expected_version)
        if locked.deleted_at is not None:
            raise ValidationError({"deal": "A deleted deal cannot be reassigned; restore it first."})
        if locked.owner_id == new_owner.pk:
            return locked
        locked.owner = new_owner
        _stamp(locked, by)
        locked.save()
        _announce([locked.pk])
    return locked


def deal_delete(*, deal: Deal, by: User, expected_version: int | None = None) -> Deal:
    """Hide a deal (soft delete); it can be restored until it is purged."""
    refusal = delete_refusal(by=by, owner_id=deal.owner_id)
    if refusal:
        raise PermissionDenied(refusal)
    with transaction.atomic():
        locked = _lock(deal, expected_version)
        if locked.deleted_at is not None:
            return locked
        locked.deleted_at = timezone.now()
        _stamp(locked, by)
        locked.save()
        _announce([locked.pk])
    return locked


def deal_restore(*, deal: Deal, by: User) -> Deal:
    """Bring back a soft-deleted deal (admins)."""
    refusal = restore_refusal(by=by)
    if refusal:
        raise PermissionDenied(refusal)
    with transaction.atomic():
        locked = _lock(deal, None)
        if locked.deleted_at is None:
            return locked
        _check_account(locked.account)
        locked.deleted_at = None
        _stamp(locked, by)
        locked.save()
        _announce([locked.pk])
    return locked


def deals_purge_deleted(*, older_than: datetime.timedelta = DELETED_KEPT_FOR) -> int:
    """Remove for good the deals deleted more than ``older_than`` ago; returns how many."""
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        ids = list(Deal.objects.filter(deleted_at__lt=cutoff).values_list("pk", flat=True))
        # The deal's transitions, line items and activities go with it.
        Deal.objects.filter(pk__in=ids).delete()
    return len(ids)


def _build_line_items(items: list[LineItemSpec]) -> tuple[list[DealLineItem], Decimal]:
    """Validate line items; returns unsaved rows (without their deal) and their total."""
    errors = []
    rows = []
    for index, item in enumerate(items):
        problem = None
        unit_price = item.product.unit_price if item.unit_price is None else Decimal(item.unit_price)
        if not item.product.is_active:
            problem = f"Product {item.product.sku} is no longer sold."
        elif Decimal(item.quantity) <= 0:
            problem = "The quantity must be positive."
        elif unit_price < 0:
            problem = "The unit price cannot be negative."
        elif not Decimal(0) <= Decimal(item.discount_pct) <= Decimal(100):
            problem = "The discount is a percentage from 0 to 100."
        if problem:
            errors.append(f"Line {index + 1}: {problem}")
            continue
        rows.append(
            DealLineItem(
                product=item.product,
                quantity=Decimal(item.quantity),
                unit_price=unit_price,
                discount_pct=Decimal(item.discount_pct),
            )
        )
    if errors:
        raise ValidationError({"line_items": errors})
    total = sum((line_total(r.quantity, r.unit_price, r.discount_pct) for r in rows), Decimal("0.00"))
    return rows, total


def _save_line_items(deal: Deal, rows: list[DealLineItem]) -> None:
    for row in rows:
        row.deal = deal
    DealLineItem.objects.bulk_create(rows)


def line_items_set(*, deal: Deal, items: list[LineItemSpec], by: User, expected_version: int | None) -> Deal:
    """Replace a deal's line items; the deal's amount becomes their total."""
    with transaction.atomic():
        locked = _lock(deal, expected_version)
        if locked.deleted_at is not None:
            raise ValidationError({"deal": "A deleted deal cannot be changed; restore it first."})
        rows, total = _build_line_items(items)
        locked.line_items.all().delete()
        _save_line_items(locked, rows)
        if rows:
            locked.amount = total
        _stamp(locked, by)
        locked.save()
        _announce([locked.pk])
    return locked
