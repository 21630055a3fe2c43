"""Creating and updating many deals in one call, upserting on ``external_id``.

Rows whose ``external_id`` names a deal the caller can see update it with the
rules of ``deal_edit``; the others are created by ``deals_import`` (with
their past, for admins). An external id is unique among one owner's live
deals, so a row is matched only against deals the caller can see and a deal
outside their scope never answers for it: where several of the caller's
deals share the id (a manager's team), the row's owner (the caller when
none) picks the one. Everything a batch refers to is loaded in a few
queries and the updates are written together, so a call costs about the
same whatever its size. One bad row writes nothing.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from pipeline.models import Deal, DealLineItem, ForecastCategory, StageTransition
from pipeline.selectors import (
    accounts_visible_to,
    deal_external_ids_taken,
    deals_visible_to,
    lost_reasons_visible_to,
    stages_visible_to,
)
from pipeline.services.deals import (
    DealEdit,
    deal_check_version,
    deal_edit_apply,
    deal_reported_values,
    deal_stamp,
)
from pipeline.services.imports import (
    ChangeSpec,
    DealSpec,
    RowErrors,
    TransitionSpec,
    allowed_owner_ids,
    deals_import,
)
from pipeline.signals import deals_changed
from pipeline.webhooks.events import DealChange, deals_changed_events
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import users_visible_to

MAX_ROWS = 500

# The fields an update row sets, besides owner, stage and lost reason.
UPSERT_FIELDS = ("name", "account", "amount", "expected_close_date", "forecast_category")

# What an edit can change: the columns an update writes back.
_EDITED_COLUMNS = [
    "name",
    "account",
    "owner",
    "stage",
    "status",
    "amount",
    "currency",
    "expected_close_date",
    "forecast_category",
    "lost_reason",
    "updated_at",
    "stage_entered_at",
    "closed_at",
    "version",
]


@dataclass
class DealRow:
    """One row of an upsert, by ids; ``version`` is the version an update row last read."""

    name: str
    account_id: int
    pipeline_id: int
    stage_id: int
    amount: Decimal
    expected_close_date: datetime.date
    forecast_category: str = ForecastCategory.PIPELINE
    external_id: str | None = None
    owner_id: int | None = None  # the caller when None
    currency: str | None = None  # the default currency when None
    lost_reason_id: int | None = None
    version: int | None = None
    created_at: datetime.datetime | None = None  # now when None; new deals only
    transitions: list[TransitionSpec] = field(default_factory=list)  # new deals only
    changes: list[ChangeSpec] = field(default_factory=list)  # new deals only
    # (product_id, quantity, unit_price, discount_pct); new deals only, an update leaves its line items
    line_items: list[tuple[int, Decimal, Decimal, Decimal]] = field(default_factory=list)


@dataclass
class UpsertResult:
    created: int
    updated: int
    ids: list[int]  # the deal of each row, in row order


class _Rollback(Exception):
    pass


class _References:
    """The accounts, people, stages and lost reasons some rows name, among those the caller may see."""

    def __init__(self, named: list[dict[str, int | None]], by: User):
        wanted: dict[str, set[int]] = {kind: set() for kind in _SELECTORS}
        for ids in named:
            for name, pk in ids.items():
                # An id past 64 bits names nothing (and SQLite cannot even bind it).
                if isinstance(pk, int) and 0 < pk < 2**63:
                    wanted[_kind(name)].add(pk)
        self.found: dict[str, dict[int, Model]] = {
            kind: {obj.pk: obj for obj in selector(by).filter(pk__in=wanted[kind])}
            if wanted[kind]
            else {}
            for kind, selector in _SELECTORS.items()
        }
        self.accounts = self.found["account"]
        self.users = self.found["user"]
        self.stages = self.found["stage"]
        self.lost_reasons = self.found["lost_reason"]

    def errors(self, named: list[dict[str, int | None]]) -> list[dict]:
        return [
            {"row": index, "field": name, "message": f'Invalid pk "{pk}" - object does not exist.'}
            for index, ids in enumerate(named)
            for name, pk in ids.items()
            if isinstance(pk, int) and pk not in self.found[_kind(name)]
        ]


_SELECTORS = {
    "account": accounts_visible_to,
    "user": users_visible_to,
    "stage": stages_visible_to,
    "lost_reason": lost_reasons_visible_to,
}
_KINDS = {
    "account": "account",
    "owner": "user",
    "by": "user",
    "stage": "stage",
    "to_stage": "stage",
    "lost_reason": "lost_reason",
}


def _kind(name: str) -> str:
    """What kind of record a row's id field names: ``transitions[2].by`` names a user."""
    return _KINDS[name.rsplit(".", 1)[-1]]


def _named_ids(row: DealRow) -> dict[str, int | None]:
    ids = {
        "account": row.account_id,
        "owner": row.owner_id,
        "stage": row.stage_id,
        "lost_reason": row.lost_reason_id,
    }
    for position, transition in enumerate(row.transitions):
        ids[f"transitions[{position}].to_stage"] = transition.to_stage_id
        ids[f"transitions[{position}].by"] = transition.by_id
    return ids


def deal_rows_reference_errors(*, named: list[dict[str, int | None]], by: User) -> list[dict]:
    """Row errors for the ids that name nothing ``by`` may see.

    Each row maps a field (``account``, ``owner``, ``stage``, ``lost_reason``,
    ``transitions[i].to_stage``, ``transitions[i].by``) to the id it gives.
    """
    return _References(named, by).errors(named)


def deals_upsert(*, rows: list[DealRow], by: User, dry_run: bool = False) -> UpsertResult:
    """Create or update every row in one transaction; ``RowErrors`` (nothing written) on any problem.

    An update gets one new version, one history row by ``by`` and, when its
    stage changes, one transition, as with ``deal_edit``. With ``dry_run``
    every row is checked the same way and nothing is written (``ids`` stay None).
    """
    named = [_named_ids(row) for row in rows]
    references = _References(named, by)
    errors = references.errors(named)
    external_ids = {row.external_id for row in rows if row.external_id}
    found: dict[str, list[tuple[int, int]]] = {}
    for external_id, owner_id, pk in (
        deals_visible_to(by)
        .filter(external_id__in=external_ids)
        .values_list("external_id", "owner_id", "pk")
    ):
        found.setdefault(external_id, []).append((owner_id, pk))
    creates: list[int] = []
    updates: list[int] = []
    targets: dict[int, int] = {}  # row index -> the deal it updates
    seen: set = set()
    for index, row in enumerate(rows):
        if not row.external_id:
            creates.append(index)
            continue
        pk, message = _match(row, found.get(row.external_id, []), by)
        key = pk if pk is not None else (row.owner_id or by.pk, row.external_id)
        if message is None and key in seen:
            message = f"external_id {row.external_id!r} is given by an earlier row."
        seen.add(key)
        if message is not None:
            errors.append({"row": index, "field": "external_id", "message": message})
        elif pk is not None:
            targets[index] = pk
            updates.append(index)
        else:
            creates.append(index)
    if errors:
        raise RowErrors(sorted(errors, key=lambda e: e["row"]))

    ids: list[int | None] = [None] * len(rows)
    try:
        with transaction.atomic():
            if creates:
                errors += _create(rows, creates, ids, by, dry_run)
            if updates:
                errors += _update(rows, updates, targets, references, ids, by, dry_run)
            if errors:
                raise _Rollback
    except _Rollback:
        raise RowErrors(sorted(errors, key=lambda e: e["row"])) from None
    return UpsertResult(created=len(creates), updated=len(updates), ids=ids)


def _match(
    row: DealRow, candidates: list[tuple[int, int]], by: User
) -> tuple[int | None, str | None]:
    """The visible deal a row updates (None: a new deal), or why the row is refused.

    ``candidates`` are the (owner id, deal id) of the caller's deals with the
    row's external id: one is the deal; of several (different owners), the
    row's owner's, the caller's when the row names none.
    """
    if len(candidates) <= 1:
        return (candidates[0][1] if candidates else None), None
    owner_id = row.owner_id or by.pk
    for candidate_owner_id, pk in candidates:
        if candidate_owner_id == owner_id:
            return pk, None
    return None, (
        f"external_id {row.external_id!r} names {len(candidates)} of the deals you can see; "
        "give the owner of the one to update."
    )


def _create(
    rows: list[DealRow], indexes: list[int], ids: list, by: User, dry_run: bool
) -> list[dict]:
    """Create the rows at ``indexes`` with ``deals_import``; their errors, numbered as in ``rows``."""
    specs = [_spec(rows[index], by) for index in indexes]
    try:
        created = deals_import(specs=specs, by=by, dry_run=dry_run)
    except RowErrors as exc:
        return [{**error, "row": indexes[error["row"]]} for error in exc.errors]
    except PermissionDenied as exc:
        return [{"row": indexes[0], "field": "owner", "message": str(exc)}]
    if dry_run:
        return []
    for index, pk in zip(indexes, created, strict=True):
        ids[index] = pk
    deals_changed_events([DealChange(deal_id=pk, created=True) for pk in created])
    return []


def _spec(row: DealRow, by: User) -> DealSpec:
    created_at = row.created_at or timezone.now()
    transitions = row.transitions or [
        TransitionSpec(to_stage_id=row.stage_id, at=created_at, by_id=by.pk)
    ]
    return DealSpec(
        name=row.name,
        account_id=row.account_id,
        owner_id=row.owner_id or by.pk,
        pipeline_id=row.pipeline_id,
        stage_id=row.stage_id,
        amount=row.amount,
        currency=(row.currency or settings.DEFAULT_CURRENCY).upper(),
        expected_close_date=row.expected_close_date,
        forecast_category=row.forecast_category,
        created_at=created_at,
        lost_reason_id=row.lost_reason_id,
        transitions=transitions,
        changes=row.changes,
        external_id=row.external_id,
        line_items=row.line_items,
    )


def _update(
    rows: list[DealRow],
    indexes: list[int],
    targets: dict[int, int],
    references: _References,
    ids: list,
    by: User,
    dry_run: bool,
) -> list[dict]:
    """Check the update rows against their locked deals and write them together; the rows' errors.

    A dry run checks against the deals as they are, unlocked, and writes nothing.
    """
    pks = [targets[index] for index in indexes]
    deals = Deal.objects.filter(pk__in=pks).order_by("pk")
    locked = {deal.pk: deal for deal in (deals if dry_run else deals.select_for_update())}
    with_line_items = set(
        DealLineItem.objects.filter(deal_id__in=pks).values_list("deal_id", flat=True)
    )
    allowed = allowed_owner_ids(by)
    # External ids the reassigning rows bring to their new owners (one query, none without such rows).
    held = deal_external_ids_taken(
        {
            (rows[index].owner_id, rows[index].external_id)
            for index in indexes
            if rows[index].owner_id is not None
        }
    )
    now = timezone.now()
    errors: list[dict] = []
    changed: list[Deal] = []
    transitions: list[StageTransition] = []
    reported: list[DealChange] = []
    may_own = lambda owner_id: allowed is None or owner_id in allowed  # noqa: E731
    for index, pk in zip(indexes, pks, strict=True):
        deal = locked.get(pk)
        if deal is None:  # purged since the rows were matched
            errors.append(
                {"row": index, "field": "external_id", "message": "This deal no longer exists."}
            )
            continue
        before = deal_reported_values(deal)
        try:
            edit = _edit(rows[index], deal, references)
            changed_one, transition = deal_edit_apply(
                deal,
                edit,
                by=by,
                has_line_items=pk in with_line_items,
                may_own=may_own,
                now=now,
                external_id_taken=lambda owner_id, external_id: (owner_id, external_id) in held,
            )
        except (ValidationError, ConflictError, PermissionDenied) as exc:
            errors += _row_errors(index, exc)
            continue
        if dry_run:
            continue
        ids[index] = pk
        if changed_one:
            deal_stamp(deal, by, transition.at if transition else None)
            changed.append(deal)
            reported.append(
                DealChange(
                    deal_id=pk,
                    updated=deal_reported_values(deal) != before,
                    moved_to_kind=transition.to_stage.kind if transition else None,
                )
            )
        if transition:
            transitions.append(transition)
    if not errors and changed:
        Deal.objects.bulk_update(changed, _EDITED_COLUMNS)
        Deal.history.bulk_history_create(changed, update=True, default_user=by)
        StageTransition.objects.bulk_create(transitions)
        deals_changed_events(reported)
        changed_ids = [deal.pk for deal in changed]
        transaction.on_commit(lambda: deals_changed.send(sender=Deal, deal_ids=changed_ids))
    return errors


def _edit(row: DealRow, deal: Deal, references: _References) -> DealEdit:
    """What an update row asks of its locked deal; raises for what only a new deal may give."""
    if row.transitions or row.changes or (row.created_at and row.created_at != deal.created_at):
        raise ValidationError(
            {"transitions": "A deal's past can only be given when it is created."}
        )
    if row.pipeline_id != deal.pipeline_id:
        raise ValidationError({"pipeline": "A deal cannot move to another pipeline."})
    deal_check_version(deal, row.version)
    changes = {
        "name": row.name,
        "account": references.accounts[row.account_id],
        "amount": row.amount,
        "expected_close_date": row.expected_close_date,
        "forecast_category": row.forecast_category,
    }
    if row.currency:
        changes["currency"] = row.currency
    moves = row.stage_id != deal.stage_id
    return DealEdit(
        changes=changes,
        owner=references.users[row.owner_id] if row.owner_id is not None else None,
        to_stage=references.stages[row.stage_id] if moves else None,
        lost_reason=references.lost_reasons.get(row.lost_reason_id) if moves else None,
    )


def _row_errors(row: int, exc: Exception) -> list[dict]:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return [
            {"row": row, "field": name, "message": message}
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    if isinstance(exc, ValidationError):
        return [{"row": row, "field": "non_field_errors", "message": m} for m in exc.messages]
    if isinstance(exc, ConflictError):
        return [{"row": row, "field": "version", "message": str(exc)}]
    return [{"row": row, "field": "owner", "message": str(exc)}]
