"""Writes to deals: create, edit (fields, owner, line items, stage), delete, restore.

Every function here that changes a deal locks its row, checks the version the
caller last saw, bumps ``version``, records who changed what (the model's
history) and rings ``deals_changed`` after commit. The rules themselves are
the checks of ``pipeline.checks.deals``.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from pipeline.checks.deals import (
    Errors,
    account_errors,
    deal_deleted_errors,
    deal_field_errors,
    external_id_errors,
    line_item_errors,
    line_items_amount_errors,
    line_items_total_errors,
    lost_reason_errors,
    merge_errors,
    owner_errors,
    stage_errors,
)
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
from pipeline.selectors import deal_external_ids_taken
from pipeline.services.pipelines import pipeline_check_ready
from pipeline.signals import deals_changed
from pipeline.webhooks import events as webhook_events
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for

UPDATABLE_FIELDS = (
    "name",
    "account",
    "amount",
    "currency",
    "expected_close_date",
    "forecast_category",
    "external_id",
)

EXTERNAL_ID_CONSTRAINT = "deal_external_id_per_owner"


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
    deal_check_version(locked, expected_version)
    return locked


def deal_check_version(deal: Deal, expected_version: int | None) -> None:
    """Raise ``ConflictError`` unless the caller saw the deal's current version (None: any version)."""
    if expected_version is not None and deal.version != expected_version:
        raise ConflictError(
            f"The deal was changed by someone else (version {deal.version}, you had {expected_version}).",
            current_version=deal.version,
        )


def deal_stamp(deal: Deal, by: User | None, at: datetime.datetime | None = None) -> None:
    """Mark an edit on the unsaved ``deal``: a new version, by whom, and when (now unless ``at``)."""
    deal.version += 1
    deal.updated_at = timezone.now()
    deal._history_user = by
    if at is not None:
        deal._history_date = at


def _raise_if_any(errors: Errors) -> None:
    if errors:
        raise ValidationError(errors)


def _external_id_taken(owner_id: int, external_id: str | None, pk: int | None = None) -> bool:
    """Whether another live deal of ``owner_id`` holds ``external_id`` (a query only when one is given)."""
    if not external_id:
        return False
    return bool(deal_external_ids_taken({(owner_id, external_id)}, exclude_pk=pk))


def _save_keeping_external_ids(deal: Deal) -> None:
    """Save ``deal`` inside the caller's transaction, which the error then rolls back:
    a concurrent writer that took its external id first is a 400, not a 500."""
    try:
        deal.save()
    except IntegrityError as exc:
        if EXTERNAL_ID_CONSTRAINT in str(exc):
            raise ValidationError(external_id_errors(taken=True)) from None
        raise


def _field_errors(deal: Deal) -> Errors:
    return deal_field_errors(
        name=deal.name,
        amount=deal.amount,
        currency=deal.currency,
        expected_close_date=deal.expected_close_date,
        forecast_category=deal.forecast_category,
    )


def _lost_reason_errors(stage: Stage, lost_reason: LostReason | None) -> Errors:
    return lost_reason_errors(
        stage_kind=stage.kind,
        lost_reason_id=lost_reason.pk if lost_reason else None,
        lost_reason_active=lost_reason.is_active if lost_reason else None,
    )


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
    currency = (currency or settings.DEFAULT_CURRENCY).upper()
    amount = Decimal(amount)
    pipeline_check_ready(pipeline)
    if stage is None:
        stage = pipeline.stages.filter(kind=StageKind.OPEN).order_by("order").first()
    rows, total = _build_line_items(line_items or [])
    if rows:
        amount = total
    _raise_if_any(
        merge_errors(
            owner_errors(owner_active=owner.is_active),
            deal_field_errors(
                name=name,
                amount=amount,
                currency=currency,
                expected_close_date=expected_close_date,
                forecast_category=forecast_category,
            ),
            account_errors(account_deleted=account.deleted_at is not None),
            stage_errors(
                stage_name=stage.name, stage_pipeline_id=stage.pipeline_id, pipeline_id=pipeline.pk
            ),
            _lost_reason_errors(stage, lost_reason),
            external_id_errors(taken=_external_id_taken(owner.pk, external_id)),
        )
    )

    now = timezone.now()
    with transaction.atomic():
        deal = Deal(
            name=name.strip(),
            account=account,
            owner=owner,
            pipeline=pipeline,
            stage=stage,
            status=stage.kind,
            amount=amount,
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
        _save_keeping_external_ids(deal)
        StageTransition.objects.create(deal=deal, from_stage=None, to_stage=stage, at=now, by=by)
        _save_line_items(deal, rows)
        webhook_events.deal_events(deal_id=deal.pk, created=True)
        _announce([deal.pk])
    return deal


@dataclass
class DealEdit:
    """What one edit asks for; ``line_items`` None leaves the line items as they are."""

    changes: dict
    owner: User | None = None
    to_stage: Stage | None = None
    lost_reason: LostReason | None = None
    at: datetime.datetime | None = None
    line_items: list[DealLineItem] | None = None
    line_items_total: Decimal = Decimal("0.00")


def deal_edit_apply(
    deal: Deal,
    edit: DealEdit,
    *,
    by: User,
    has_line_items: bool,
    may_own: Callable[[int], bool],
    now: datetime.datetime,
    external_id_taken: Callable[[int, str], bool] | None = None,
) -> tuple[bool, StageTransition | None]:
    """Check ``edit`` against the locked ``deal`` and apply it in memory; nothing is written.

    Answers whether anything changed and the move's transition (unsaved), if
    the deal moves. Raises ``PermissionDenied`` or ``ValidationError``, after
    which the caller must not write ``deal``. ``external_id_taken(owner_id,
    external_id)`` answers whether another live deal of that owner holds the
    id; it is asked only when the owner or the external id changes.
    """
    _raise_if_any(deal_deleted_errors(deleted=deal.deleted_at is not None))
    reassigned = edit.owner is not None and edit.owner.pk != deal.owner_id
    if reassigned and by.is_rep:
        raise PermissionDenied("Reps cannot change a deal's owner.")
    if reassigned and not (may_own(deal.owner_id) and may_own(edit.owner.pk)):
        raise PermissionDenied("You can only reassign deals within your team.")

    changes = dict(edit.changes)
    if isinstance(changes.get("currency"), str):
        changes["currency"] = changes["currency"].upper()
    errors: Errors = {}
    if reassigned:
        errors = merge_errors(errors, owner_errors(owner_active=edit.owner.is_active))
    account = changes.get("account")
    if account is not None and account.pk != deal.account_id:
        errors = merge_errors(
            errors, account_errors(account_deleted=account.deleted_at is not None)
        )
    if edit.line_items is not None:
        has_line_items = bool(edit.line_items)
        total = edit.line_items_total
    else:
        total = deal.amount
    if has_line_items:
        if "amount" in changes:
            errors = merge_errors(
                errors,
                line_items_amount_errors(
                    has_line_items=True, amount=changes["amount"], total=total
                ),
            )
        changes["amount"] = total
    moved = edit.to_stage is not None
    if moved:
        errors = merge_errors(errors, _move_errors(deal, edit, now))
    elif edit.lost_reason is not None and edit.lost_reason.pk != deal.lost_reason_id:
        errors = merge_errors(
            errors, {"lost_reason": ["Set the lost reason when moving the deal."]}
        )

    if changes.get("external_id") == "":
        changes["external_id"] = None
    changed = {field: value for field, value in changes.items() if _differs(deal, field, value)}
    for field, value in changed.items():
        setattr(deal, field, value)
    errors = merge_errors(errors, _field_errors(deal))
    if deal.external_id and (reassigned or "external_id" in changed):
        owner_id = edit.owner.pk if reassigned else deal.owner_id
        taken = (external_id_taken or (lambda o, e: _external_id_taken(o, e, deal.pk)))(
            owner_id, deal.external_id
        )
        errors = merge_errors(errors, external_id_errors(taken=taken))
    _raise_if_any(errors)
    deal.name = deal.name.strip()
    if reassigned:
        deal.owner = edit.owner
    transition = None
    if moved:
        at = edit.at or now
        transition = StageTransition(
            deal=deal,
            from_stage_id=deal.stage_id,
            from_stage_entered_at=deal.stage_entered_at,
            to_stage=edit.to_stage,
            at=at,
            by=by,
        )
        deal.stage = edit.to_stage
        deal.status = edit.to_stage.kind
        deal.stage_entered_at = at
        deal.closed_at = at if edit.to_stage.is_closed else None
        deal.lost_reason = edit.lost_reason
    return bool(changed or reassigned or moved or edit.line_items is not None), transition


def _differs(deal: Deal, field: str, value) -> bool:
    """Whether ``value`` differs from the deal's; a related record is compared by id, without loading the deal's."""
    if isinstance(value, models.Model):
        return getattr(deal, f"{field}_id") != value.pk
    return getattr(deal, field) != value


def _move_errors(deal: Deal, edit: DealEdit, now: datetime.datetime) -> Errors:
    to_stage = edit.to_stage
    errors = stage_errors(
        stage_name=to_stage.name,
        stage_pipeline_id=to_stage.pipeline_id,
        pipeline_id=deal.pipeline_id,
    )
    if not errors and to_stage.pk == deal.stage_id:
        errors = {"stage": [f"The deal is already in {to_stage.name!r}."]}
    errors = merge_errors(errors, _lost_reason_errors(to_stage, edit.lost_reason))
    at = edit.at or now
    if at > now:
        errors = merge_errors(errors, {"at": ["A move cannot be dated in the future."]})
    elif at < deal.stage_entered_at:
        errors = merge_errors(
            errors, {"at": ["A move cannot be dated before the deal entered its current stage."]}
        )
    return errors


def deal_edit(
    *,
    deal: Deal,
    by: User,
    expected_version: int | None,
    owner: User | None = None,
    line_items: list[LineItemSpec] | None = None,
    to_stage: Stage | None = None,
    lost_reason: LostReason | None = None,
    at: datetime.datetime | None = None,
    **changes,
) -> Deal:
    """Change a deal's fields, owner, line items and stage as one edit: one version, one history row.

    ``changes`` are among ``UPDATABLE_FIELDS``; ``at`` dates a move (now by
    default). Everything is checked before anything is written; a stale
    ``expected_version`` raises ``ConflictError``. A deal with line items is
    worth their total; a move into a lost stage needs ``lost_reason``.
    """
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            {field: "This field cannot be changed here." for field in sorted(unknown)}
        )
    edit = DealEdit(changes=changes, owner=owner, to_stage=to_stage, lost_reason=lost_reason, at=at)
    if line_items is not None:
        edit.line_items, edit.line_items_total = _build_line_items(line_items)
    with transaction.atomic():
        locked = _lock(deal, expected_version)
        has_line_items = line_items is None and "amount" in changes and locked.line_items.exists()
        before = deal_reported_values(locked)
        changed, transition = deal_edit_apply(
            locked,
            edit,
            by=by,
            has_line_items=has_line_items,
            may_own=lambda owner_id: may_act_for(actor=by, owner_id=owner_id),
            now=timezone.now(),
        )
        if not changed:
            return locked
        deal_stamp(locked, by, transition.at if transition else None)
        _save_keeping_external_ids(locked)
        if transition is not None:
            transition.save()
        if edit.line_items is not None:
            locked.line_items.all().delete()
            _save_line_items(locked, edit.line_items)
        webhook_events.deal_events(
            deal_id=locked.pk,
            updated=edit.line_items is not None or deal_reported_values(locked) != before,
            moved_to_kind=transition.to_stage.kind if transition else None,
        )
        _announce([locked.pk])
    return locked


def deal_reported_values(deal: Deal) -> tuple:
    """What a ``deal.updated`` event reports a change of (the stage has events of its own)."""
    return (
        deal.name,
        deal.account_id,
        deal.owner_id,
        deal.amount,
        deal.currency,
        deal.expected_close_date,
        deal.forecast_category,
    )


def deal_update(*, deal: Deal, by: User, expected_version: int | None, **changes) -> Deal:
    """Change a deal's name, account, amount, currency, close date or forecast category (see ``deal_edit``)."""
    return deal_edit(deal=deal, by=by, expected_version=expected_version, **changes)


def deal_move(
    *,
    deal: Deal,
    to_stage: Stage,
    by: User,
    expected_version: int | None,
    lost_reason: LostReason | None = None,
    at: datetime.datetime | None = None,
) -> Deal:
    """Move a deal to another stage of its pipeline, recording the transition (see ``deal_edit``).

    Entering a won or lost stage sets ``closed_at``; reopening clears it.
    """
    return deal_edit(
        deal=deal,
        by=by,
        expected_version=expected_version,
        to_stage=to_stage,
        lost_reason=lost_reason,
        at=at,
    )


def deal_reassign(*, deal: Deal, new_owner: User, by: User, expected_version: int | None) -> Deal:
    """Give a deal to another person; managers reassign within their team, admins anywhere."""
    return deal_edit(deal=deal, by=by, expected_version=expected_version, owner=new_owner)


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
        deal_stamp(locked, by)
        locked.save()
        webhook_events.deal_events(deal_id=locked.pk, deleted=True)
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
        _raise_if_any(
            merge_errors(
                account_errors(account_deleted=locked.account.deleted_at is not None),
                external_id_errors(
                    taken=_external_id_taken(locked.owner_id, locked.external_id, locked.pk)
                ),
            )
        )
        locked.deleted_at = None
        deal_stamp(locked, by)
        locked.save()
        webhook_events.deal_events(deal_id=locked.pk, updated=True)
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
    """Check line items; returns unsaved rows (without their deal) and their total."""
    errors = []
    rows = []
    for index, item in enumerate(items):
        unit_price = (
            item.product.unit_price if item.unit_price is None else Decimal(item.unit_price)
        )
        row = DealLineItem(
            product=item.product,
            quantity=Decimal(item.quantity),
            unit_price=unit_price,
            discount_pct=Decimal(item.discount_pct),
        )
        problems = line_item_errors(
            product_active=item.product.is_active,
            quantity=row.quantity,
            unit_price=row.unit_price,
            discount_pct=row.discount_pct,
        )
        errors += [f"Line {index + 1}: {m}" for messages in problems.values() for m in messages]
        rows.append(row)
    if errors:
        raise ValidationError({"line_items": errors})
    total = sum(
        (line_total(r.quantity, r.unit_price, r.discount_pct) for r in rows), Decimal("0.00")
    )
    if problems := line_items_total_errors(total):
        raise ValidationError(problems)
    return rows, total


def _save_line_items(deal: Deal, rows: list[DealLineItem]) -> None:
    for row in rows:
        row.deal = deal
    DealLineItem.objects.bulk_create(rows)


def line_items_set(
    *, deal: Deal, items: list[LineItemSpec], by: User, expected_version: int | None
) -> Deal:
    """Replace a deal's line items; the deal's amount becomes their total (see ``deal_edit``)."""
    return deal_edit(deal=deal, by=by, expected_version=expected_version, line_items=items)
