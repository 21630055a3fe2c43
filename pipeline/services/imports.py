"""Writing many records at once: deals with their past, accounts, activities.

Used by the demo-data command, the bulk API and CSV imports. Every row of a
call is checked before anything is written, and a call is written in one
transaction: all of it or none of it. On PostgreSQL the rows go in with COPY,
elsewhere with ``bulk_create``. Callers with many rows feed them in batches
(a few thousand per call) so memory stays bounded.
"""

import csv
import datetime
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from pipeline.checks.deals import (
    Errors,
    account_errors,
    amount_errors,
    close_date_errors,
    deal_field_errors,
    forecast_category_errors,
    line_item_errors,
    line_items_amount_errors,
    lost_reason_errors,
    owner_errors,
    pipeline_errors,
    stage_errors,
)
from pipeline.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
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
from pipeline.signals import deals_changed
from quotas.models import Territory
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery
from salesmgr.values import parse_date

# The deal fields whose past values an import may give.
CHANGEABLE_FIELDS = ("amount", "expected_close_date", "forecast_category")

# Before its first recorded change a field holds what a new deal gets by
# default; a close date has no default, so its first change must be at creation.
_VALUE_BEFORE_FIRST_CHANGE = {
    "amount": Decimal("0.00"),
    "forecast_category": ForecastCategory.PIPELINE,
}

_ACTIVITY_KINDS = frozenset(ActivityKind.values)


class RowErrors(ValidationError):
    """Rows refused by an import, nothing written.

    ``errors`` lists ``{"row": i, "field": f, "message": m}`` in row order, the
    shape the bulk API answers with.
    """

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__([f"Row {e['row']}, {e['field']}: {e['message']}" for e in errors])


@dataclass
class TransitionSpec:
    to_stage_id: int
    at: datetime.datetime
    by_id: int | None = None
    # Why the deal was lost, for a move into the lost stage that is not the
    # last one (the last one takes the deal's own lost_reason_id).
    lost_reason_id: int | None = None


@dataclass
class ChangeSpec:
    field: str  # one of CHANGEABLE_FIELDS
    value: Any
    at: datetime.datetime
    by_id: int | None = None  # who made the change, when known


@dataclass
class DealSpec:
    name: str
    account_id: int
    owner_id: int
    pipeline_id: int
    stage_id: int
    amount: Decimal
    currency: str
    expected_close_date: datetime.date
    forecast_category: str
    created_at: datetime.datetime
    lost_reason_id: int | None
    transitions: list[TransitionSpec]
    changes: list[ChangeSpec]
    external_id: str | None = None
    # (product_id, quantity, unit_price, discount_pct); the amount must be their total.
    line_items: list[tuple[int, Decimal, Decimal, Decimal]] = field(default_factory=list)


@dataclass
class ContactSpec:
    first_name: str
    last_name: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""


@dataclass
class AccountSpec:
    name: str
    owner_id: int
    territory_id: int | None = None
    industry: str = ""
    region: str = ""
    employee_count: int | None = None
    website: str = ""
    created_at: datetime.datetime | None = None  # now when None
    contacts: list[ContactSpec] = field(default_factory=list)


@dataclass
class ActivitySpec:
    kind: str
    subject: str
    occurred_at: datetime.datetime
    author_id: int
    deal_id: int | None = None
    account_id: int | None = None  # the deal's account when None and a deal is given
    body: str = ""


class _Errors:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, row: int, field_name: str, message: str) -> None:
        self.items.append({"row": row, "field": field_name, "message": message})

    def extend(self, row: int, found: Errors, prefix: str = "") -> None:
        for field_name, messages in found.items():
            for message in messages:
                self.add(row, f"{prefix}{field_name}", message)

    def raise_if_any(self) -> None:
        if self.items:
            raise RowErrors(self.items)


def allowed_owner_ids(by: User) -> set[int] | None:
    """The owners ``by`` may write records for; None means anyone (an admin)."""
    if by.is_admin:
        return None
    allowed = {by.pk}
    if by.is_manager:
        allowed |= set(
            User.objects.filter(pk__in=team_member_ids_subquery(by.pk)).values_list("pk", flat=True)
        )
    return allowed


def _check_owners(by: User, owner_ids: set[int]) -> None:
    allowed = allowed_owner_ids(by)
    if allowed is not None and not owner_ids <= allowed:
        raise PermissionDenied("You can only import records for yourself and your team.")


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime.datetime) and timezone.is_aware(value)


def _as_decimal(value: Any) -> Decimal | None:
    """A money amount as a Decimal of at most two places, or None if it is not one."""
    if isinstance(value, float):
        return None  # binary fractions are not money
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number.as_tuple().exponent < -2:
        return None
    return number.quantize(Decimal("0.01"))


def _normalise_change(errors: _Errors, row: int, where: str, change_field: str, value: Any) -> Any:
    """The change's value in the field's own type, or None (with an error) if it is invalid."""
    if change_field == "amount":
        value = _as_decimal(value)
        problems = amount_errors(value)
    elif change_field == "expected_close_date":
        value = parse_date(value)
        problems = close_date_errors(value)
    else:
        problems = forecast_category_errors(value)
    for message in problems:
        errors.add(row, where, message)
    return None if problems else value


# ---------------------------------------------------------------------------
# Deals with their past
# ---------------------------------------------------------------------------

# What changes over a deal's life: one tuple per point in time, in this order.
_STATE_FIELDS = (
    "stage_id",
    "status",
    "stage_entered_at",
    "closed_at",
    "lost_reason_id",
    "amount",
    "expected_close_date",
    "forecast_category",
)


@dataclass
class _DealPlan:
    """A checked deal: its row, transitions, line items and the states it went through."""

    values: dict  # Deal attname -> value, without the id
    transitions: list[tuple[int | None, int, datetime.datetime, int | None]]  # from, to, at, by
    line_items: list[tuple[int, Decimal, Decimal, Decimal]]
    # (at, history_user_id, *state in _STATE_FIELDS order), one per point where something changed
    states: list[tuple]


class _DealContext:
    """What the checks need to know about the rows a batch refers to, loaded in a few queries."""

    def __init__(self, specs: list[DealSpec]):
        self.stages = {
            pk: (pipeline_id, kind, name)
            for pk, pipeline_id, kind, name in Stage.objects.values_list("pk", "pipeline_id", "kind", "name")
        }
        kinds_by_pipeline: dict[int, set[str]] = {}
        for pipeline_id, kind, _ in self.stages.values():
            kinds_by_pipeline.setdefault(pipeline_id, set()).add(kind)
        self.pipelines = {
            pk: (name, is_active, kinds_by_pipeline.get(pk, set()))
            for pk, name, is_active in Pipeline.objects.values_list("pk", "name", "is_active")
        }
        self.lost_reasons = dict(LostReason.objects.values_list("pk", "is_active"))
        account_ids = {s.account_id for s in specs if isinstance(s.account_id, int)}
        self.accounts = dict(
            Account.objects.filter(pk__in=account_ids).values_list("pk", "deleted_at")
        )
        user_ids = {s.owner_id for s in specs}
        for spec in specs:
            user_ids.update(t.by_id for t in spec.transitions if t.by_id is not None)
            user_ids.update(c.by_id for c in spec.changes if c.by_id is not None)
        user_ids = {pk for pk in user_ids if isinstance(pk, int)}
        self.users = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "is_active"))
        product_ids = {item[0] for s in specs for item in s.line_items if isinstance(item[0], int)}
        self.products = dict(
            Product.objects.filter(pk__in=product_ids).values_list("pk", "is_active")
        )
        external_ids = {s.external_id for s in specs if s.external_id}
        self.taken_external_ids = set(
            Deal.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True)
        )


def deals_import(*, specs: list[DealSpec], by: User, batch_size: int = 2000) -> list[int]:
    """Create deals together with their stage transitions and change history; returns their ids in row order.

    Each deal gets one historical version per point in time at which any of
    its tracked values changed, each holding the whole deal as it stood then,
    so ``deal_as_of`` answers for any past date. Rows with a past (more than
    the creating transition, or changes) are for admins. A bad row raises
    ``RowErrors`` and nothing is written. ``batch_size`` caps the rows of one
    INSERT where COPY is not used.
    """
    if not specs:
        return []
    _check_owners(by, {spec.owner_id for spec in specs})
    if not by.is_admin and any(len(spec.transitions) > 1 or spec.changes for spec in specs):
        raise PermissionDenied("Only admins may import a deal's past.")
    now = timezone.now()
    context = _DealContext(specs)
    errors = _Errors()
    seen_external_ids: set[str] = set()
    plans = []
    for row, spec in enumerate(specs):
        plan = _plan_deal(row, spec, context, now, errors, seen_external_ids)
        if plan is not None:
            plans.append(plan)
    errors.raise_if_any()

    with transaction.atomic():
        deal_ids = _insert(
            Deal,
            _DEAL_COLUMNS,
            [[p.values[c] for c in _DEAL_COLUMNS] for p in plans],
            batch_size,
            return_ids=True,
        )
        _insert(
            StageTransition,
            ["deal_id", "from_stage_id", "from_stage_entered_at", "to_stage_id", "at", "by_id"],
            _transition_rows(deal_ids, plans),
            batch_size,
        )
        _insert(
            DealLineItem,
            ["deal_id", "product_id", "quantity", "unit_price", "discount_pct"],
            [
                (deal_id, *item)
                for deal_id, plan in zip(deal_ids, plans, strict=True)
                for item in plan.line_items
            ],
            batch_size,
        )
        _insert(_HISTORY, _HISTORY_COLUMNS, _history_rows(deal_ids, plans), batch_size)
        transaction.on_commit(lambda: deals_changed.send(sender=Deal, deal_ids=deal_ids))
    return deal_ids


def _transition_rows(deal_ids: list[int], plans: list["_DealPlan"]):
    """Transition rows, each carrying when the deal had entered the stage it leaves."""
    for deal_id, plan in zip(deal_ids, plans, strict=True):
        entered_at = None
        for from_stage_id, to_stage_id, at, by_id in plan.transitions:
            yield (deal_id, from_stage_id, entered_at, to_stage_id, at, by_id)
            entered_at = at


def _plan_deal(
    row: int,
    spec: DealSpec,
    context: _DealContext,
    now: datetime.datetime,
    errors: _Errors,
    seen_external_ids: set[str],
) -> _DealPlan | None:
    """Check one row and work out its history; None when the row has errors (added to ``errors``)."""
    before = len(errors.items)
    amount = _as_decimal(spec.amount)
    close_date = parse_date(spec.expected_close_date)
    errors.extend(
        row,
        deal_field_errors(
            name=spec.name,
            amount=amount,
            currency=spec.currency,
            expected_close_date=close_date,
            forecast_category=spec.forecast_category,
        ),
    )
    if spec.account_id not in context.accounts:
        errors.add(row, "account", f"No account {spec.account_id!r}.")
    else:
        errors.extend(row, account_errors(account_deleted=context.accounts[spec.account_id] is not None))
    if spec.owner_id not in context.users:
        errors.add(row, "owner", f"No user {spec.owner_id!r}.")
    else:
        errors.extend(row, owner_errors(owner_active=context.users[spec.owner_id]))
    external_id = spec.external_id or None
    if external_id is not None:
        if external_id in seen_external_ids or external_id in context.taken_external_ids:
            errors.add(row, "external_id", f"external_id {external_id!r} is already used.")
        seen_external_ids.add(external_id)
    created_at = spec.created_at
    if not _is_aware(created_at):
        errors.add(row, "created_at", "Give a date and time with a time zone.")
        return None
    if created_at > now:
        errors.add(row, "created_at", "The deal cannot be created in the future.")

    pipeline = context.pipelines.get(spec.pipeline_id)
    if pipeline is None:
        errors.add(row, "pipeline", f"No pipeline {spec.pipeline_id!r}.")
        return None
    pipeline_name, pipeline_active, stage_kinds = pipeline
    errors.extend(
        row,
        pipeline_errors(pipeline_name=pipeline_name, is_active=pipeline_active, stage_kinds=stage_kinds),
    )
    stage = context.stages.get(spec.stage_id)
    if stage is None:
        errors.add(row, "stage", f"No stage {spec.stage_id!r}.")
        return None
    stage_problems = stage_errors(stage_name=stage[2], stage_pipeline_id=stage[0], pipeline_id=spec.pipeline_id)
    if stage_problems:
        errors.extend(row, stage_problems)
        return None

    final_kind = stage[1]
    errors.extend(
        row,
        lost_reason_errors(
            stage_kind=final_kind,
            lost_reason_id=spec.lost_reason_id,
            lost_reason_active=context.lost_reasons.get(spec.lost_reason_id),
        ),
    )

    transitions = _check_transitions(row, spec, context, now, errors)
    changes = _check_changes(row, spec, context, now, errors)
    line_items = _check_line_items(row, spec, context, amount, errors)
    if len(errors.items) > before:
        return None

    final = {
        "amount": amount,
        "expected_close_date": close_date,
        "forecast_category": spec.forecast_category,
    }
    for change_field, field_changes in changes.items():
        if field_changes[-1][1] != final[change_field]:
            errors.add(
                row,
                f"changes.{change_field}",
                f"The last change gives {field_changes[-1][1]}, but the deal's {change_field} is {final[change_field]}.",
            )
    if len(errors.items) > before:
        return None

    states = _timeline(spec, transitions, changes, final, context)
    last_at = states[-1][0]
    stage_entered_at = transitions[-1][2]
    values = {
        "name": spec.name.strip(),
        "account_id": spec.account_id,
        "owner_id": spec.owner_id,
        "pipeline_id": spec.pipeline_id,
        "stage_id": spec.stage_id,
        "status": final_kind,
        "amount": amount,
        "currency": spec.currency,
        "expected_close_date": close_date,
        "forecast_category": spec.forecast_category,
        "lost_reason_id": spec.lost_reason_id,
        "created_at": created_at,
        "updated_at": last_at,
        "stage_entered_at": stage_entered_at,
        "closed_at": stage_entered_at if final_kind != StageKind.OPEN else None,
        "version": len(states),
        "deleted_at": None,
        "external_id": external_id,
    }
    return _DealPlan(values=values, transitions=transitions, line_items=line_items, states=states)


def _check_transitions(row, spec, context, now, errors) -> list[tuple]:
    """The checked transitions as (from_stage_id, to_stage_id, at, by_id); [] after an error."""
    if not spec.transitions:
        errors.add(row, "transitions", "A deal needs at least its creating transition.")
        return []
    result = []
    previous_stage = None
    previous_at = None
    last = len(spec.transitions) - 1
    for index, transition in enumerate(spec.transitions):
        where = f"transitions[{index}]"
        at = transition.at
        if not _is_aware(at):
            errors.add(row, f"{where}.at", "Give a date and time with a time zone.")
            return []
        if index == 0 and at != spec.created_at:
            errors.add(
                row,
                f"{where}.at",
                "The first transition is the creation: it must be at created_at.",
            )
        if previous_at is not None and at < previous_at:
            errors.add(row, f"{where}.at", "Transitions must be oldest first.")
        if at > now:
            errors.add(row, f"{where}.at", "A transition cannot be in the future.")
        stage = context.stages.get(transition.to_stage_id)
        if stage is None:
            errors.add(row, f"{where}.to_stage", f"No stage {transition.to_stage_id!r}.")
            return []
        stage_problems = stage_errors(stage_name=stage[2], stage_pipeline_id=stage[0], pipeline_id=spec.pipeline_id)
        if stage_problems:
            errors.extend(row, stage_problems, prefix=f"{where}.to_")
            return []
        if transition.to_stage_id == previous_stage:
            errors.add(row, f"{where}.to_stage", "A transition must change the stage.")
        if transition.by_id is not None and transition.by_id not in context.users:
            errors.add(row, f"{where}.by", f"No user {transition.by_id!r}.")
        reason = transition.lost_reason_id
        if stage[1] != StageKind.LOST:
            if reason is not None:
                errors.add(
                    row,
                    f"{where}.lost_reason",
                    "Only a move into the lost stage has a lost reason.",
                )
        elif index == last:
            if reason is not None and reason != spec.lost_reason_id:
                errors.add(
                    row,
                    f"{where}.lost_reason",
                    "The last move's lost reason is the deal's lost_reason.",
                )
        elif reason not in context.lost_reasons:
            errors.add(row, f"{where}.lost_reason", "Say why the deal was lost.")
        result.append((previous_stage, transition.to_stage_id, at, transition.by_id))
        previous_stage, previous_at = transition.to_stage_id, at
    if spec.transitions[-1].to_stage_id != spec.stage_id:
        errors.add(
            row,
            f"transitions[{last}].to_stage",
            "The last transition must be into the deal's stage.",
        )
    return result


def _check_changes(row, spec, context, now, errors) -> dict[str, list[tuple]]:
    """The checked changes per field, each a list of (at, value, by_id) in time order."""
    changes: dict[str, list[tuple]] = {}
    for index, change in enumerate(spec.changes):
        where = f"changes[{index}]"
        if change.field not in CHANGEABLE_FIELDS:
            errors.add(
                row,
                f"{where}.field",
                f"{change.field!r} has no history; use one of {', '.join(CHANGEABLE_FIELDS)}.",
            )
            continue
        value = _normalise_change(errors, row, f"{where}.value", change.field, change.value)
        at = change.at
        if not _is_aware(at):
            errors.add(row, f"{where}.at", "Give a date and time with a time zone.")
            continue
        if at < spec.created_at:
            errors.add(row, f"{where}.at", "A change cannot come before the deal was created.")
        if at > now:
            errors.add(row, f"{where}.at", "A change cannot be in the future.")
        field_changes = changes.setdefault(change.field, [])
        if field_changes and at < field_changes[-1][0]:
            errors.add(row, f"{where}.at", f"The changes of {change.field} must be oldest first.")
        if change.by_id is not None and change.by_id not in context.users:
            errors.add(row, f"{where}.by", f"No user {change.by_id!r}.")
        field_changes.append((at, value, change.by_id))
    dates = changes.get("expected_close_date")
    if dates and dates[0][0] != spec.created_at:
        errors.add(
            row, "changes.expected_close_date", "The first close date must be given at created_at."
        )
    return changes


def _check_line_items(row, spec, context, amount, errors) -> list[tuple]:
    items = []
    before = len(errors.items)
    for index, item in enumerate(spec.line_items):
        where = f"line_items[{index}]"
        try:
            product_id, quantity, unit_price, discount_pct = item
        except (TypeError, ValueError):
            errors.add(
                row, where, "A line item is (product, quantity, unit price, discount percent)."
            )
            continue
        quantity, unit_price, discount_pct = (
            _as_decimal(quantity),
            _as_decimal(unit_price),
            _as_decimal(discount_pct),
        )
        if product_id not in context.products:
            errors.add(row, f"{where}.product", f"No product {product_id!r}.")
        problems = line_item_errors(
            product_active=context.products.get(product_id, True),
            quantity=quantity,
            unit_price=unit_price,
            discount_pct=discount_pct,
        )
        errors.extend(row, problems, prefix=f"{where}.")
        items.append((product_id, quantity, unit_price, discount_pct))
    if items and amount is not None and len(errors.items) == before:
        total = sum((line_total(q, p, d) for _, q, p, d in items), Decimal("0.00"))
        errors.extend(row, line_items_amount_errors(has_line_items=True, amount=amount, total=total))
    return items


def _timeline(
    spec: DealSpec, transitions: list[tuple], changes: dict, final: dict, context
) -> list[tuple]:
    """The deal's states, one per point in time at which any tracked value changed."""
    events = []  # (at, order, kind, payload); order keeps the given order within one moment
    for index, (_, to_stage_id, at, by_id) in enumerate(transitions):
        reason = (
            spec.lost_reason_id
            if index == len(transitions) - 1
            else spec.transitions[index].lost_reason_id
        )
        events.append((at, len(events), "stage", (to_stage_id, reason, by_id)))
    for change_field, field_changes in changes.items():
        for at, value, by_id in field_changes:
            events.append((at, len(events), change_field, (value, by_id)))
    events.sort(key=lambda event: (event[0], event[1]))

    # A field without changes had its final value all along; one with changes
    # starts from its default and takes each value at its time (a change at
    # creation included).
    state = {
        change_field: _VALUE_BEFORE_FIRST_CHANGE.get(change_field)
        if change_field in changes
        else final[change_field]
        for change_field in CHANGEABLE_FIELDS
    }
    states: list[tuple] = []
    index = 0
    while index < len(events):
        at = events[index][0]
        user_id = None
        while index < len(events) and events[index][0] == at:
            _, _, kind, payload = events[index]
            if kind == "stage":
                to_stage_id, reason, by_id = payload
                stage_kind = context.stages[to_stage_id][1]
                state.update(
                    stage_id=to_stage_id,
                    status=stage_kind,
                    stage_entered_at=at,
                    closed_at=at if stage_kind != StageKind.OPEN else None,
                    lost_reason_id=reason if stage_kind == StageKind.LOST else None,
                )
            else:
                value, by_id = payload
                state[kind] = value
            if by_id is not None:
                user_id = by_id
            index += 1
        snapshot = tuple(state[name] for name in _STATE_FIELDS)
        if not states or snapshot != states[-1][2:]:
            states.append((at, user_id, *snapshot))
    return states


_HISTORY = Deal.history.model
_DEAL_COLUMNS = [f.attname for f in Deal._meta.concrete_fields if not f.primary_key]
_HISTORY_COLUMNS = [f.attname for f in _HISTORY._meta.concrete_fields if not f.primary_key]
_HISTORY_SLOTS = [
    _HISTORY_COLUMNS.index(name) for name in ("history_date", "history_user_id", *_STATE_FIELDS)
]
_HISTORY_TYPE_SLOT = _HISTORY_COLUMNS.index("history_type")
_HISTORY_ID_SLOT = _HISTORY_COLUMNS.index("id")


def _history_rows(deal_ids: list[int], plans: list[_DealPlan]):
    """The historical versions of the deals, each a full copy of the deal at that point."""
    for deal_id, plan in zip(deal_ids, plans, strict=True):
        base = [plan.values.get(name) for name in _HISTORY_COLUMNS]
        base[_HISTORY_ID_SLOT] = deal_id
        history_type = "+"
        for state in plan.states:
            row = base.copy()
            for slot, value in zip(_HISTORY_SLOTS, state, strict=True):
                row[slot] = value
            row[_HISTORY_TYPE_SLOT] = history_type
            history_type = "~"
            yield row


# ---------------------------------------------------------------------------
# Accounts and activities
# ---------------------------------------------------------------------------


def accounts_import(*, specs: list[AccountSpec], by: User, batch_size: int = 2000) -> list[int]:
    """Create accounts and their contacts; returns the account ids in row order.

    The same checks as ``account_create`` (the model's field rules, an owner
    ``by`` may act for), made for a whole batch in a few queries.
    """
    if not specs:
        return []
    _check_owners(by, {spec.owner_id for spec in specs})
    now = timezone.now()
    owners = dict(
        User.objects.filter(pk__in={s.owner_id for s in specs}).values_list("pk", "is_active")
    )
    territories = set(
        Territory.objects.filter(
            pk__in={s.territory_id for s in specs if s.territory_id}
        ).values_list("pk", flat=True)
    )
    errors = _Errors()
    accounts, contacts = [], []
    for row, spec in enumerate(specs):
        if spec.owner_id not in owners:
            errors.add(row, "owner", f"No user {spec.owner_id!r}.")
        if spec.territory_id is not None and spec.territory_id not in territories:
            errors.add(row, "territory", f"No territory {spec.territory_id!r}.")
        created_at = spec.created_at or now
        account = Account(
            name=(spec.name or "").strip(),
            owner_id=spec.owner_id,
            territory_id=spec.territory_id,
            industry=spec.industry,
            region=spec.region,
            employee_count=spec.employee_count,
            website=spec.website,
            created_at=created_at,
        )
        _model_errors(errors, row, "", account, exclude=["owner", "territory"])
        accounts.append(account)
        for index, contact_spec in enumerate(spec.contacts):
            contact = Contact(
                first_name=contact_spec.first_name,
                last_name=contact_spec.last_name,
                title=contact_spec.title,
                email=contact_spec.email,
                phone=contact_spec.phone,
                created_at=created_at,
            )
            _model_errors(errors, row, f"contacts[{index}].", contact, exclude=["account"])
            contacts.append((row, contact))
    errors.raise_if_any()

    account_columns = [f.attname for f in Account._meta.concrete_fields if not f.primary_key]
    contact_columns = [
        f.attname
        for f in Contact._meta.concrete_fields
        if not f.primary_key and f.attname != "account_id"
    ]
    with transaction.atomic():
        ids = _insert(
            Account,
            account_columns,
            [[getattr(a, c) for c in account_columns] for a in accounts],
            batch_size,
            return_ids=True,
        )
        _insert(
            Contact,
            ["account_id", *contact_columns],
            [(ids[row], *(getattr(c, name) for name in contact_columns)) for row, c in contacts],
            batch_size,
        )
    return ids


def _model_errors(
    errors: _Errors, row: int, prefix: str, instance: models.Model, exclude: list[str]
) -> None:
    try:
        instance.clean_fields(exclude=exclude)
    except ValidationError as exc:
        for field_name, messages in exc.message_dict.items():
            for message in messages:
                errors.add(row, f"{prefix}{field_name}", message)


def activities_import(*, specs: list[ActivitySpec], batch_size: int = 2000) -> int:
    """Record many notes, calls, emails, meetings and client visits; returns how many.

    As with ``activity_log``, an activity on a deal belongs to the deal's
    account, and neither may be deleted.
    """
    if not specs:
        return 0
    now = timezone.now()
    deals = {
        pk: (account_id, deleted_at)
        for pk, account_id, deleted_at in Deal.objects.filter(
            pk__in={s.deal_id for s in specs if s.deal_id is not None}
        ).values_list("pk", "account_id", "deleted_at")
    }
    account_ids = {s.account_id for s in specs if s.account_id is not None} | {
        a for a, _ in deals.values()
    }
    accounts = dict(Account.objects.filter(pk__in=account_ids).values_list("pk", "deleted_at"))
    authors = set(
        User.objects.filter(pk__in={s.author_id for s in specs}).values_list("pk", flat=True)
    )
    errors = _Errors()
    rows = []
    for row, spec in enumerate(specs):
        if spec.kind not in _ACTIVITY_KINDS:
            errors.add(row, "kind", f"Unknown activity kind {spec.kind!r}.")
        subject = (spec.subject or "").strip()
        if not subject:
            errors.add(row, "subject", "Give the activity a subject.")
        elif len(subject) > Activity._meta.get_field("subject").max_length:
            errors.add(row, "subject", "The subject is too long.")
        if not _is_aware(spec.occurred_at):
            errors.add(row, "occurred_at", "Give a date and time with a time zone.")
        if spec.author_id not in authors:
            errors.add(row, "author", f"No user {spec.author_id!r}.")
        account_id = spec.account_id
        if spec.deal_id is None and account_id is None:
            errors.add(row, "deal", "An activity belongs to a deal or an account.")
        if spec.deal_id is not None:
            if spec.deal_id not in deals:
                errors.add(row, "deal", f"No deal {spec.deal_id!r}.")
                continue
            deal_account_id, deal_deleted_at = deals[spec.deal_id]
            if deal_deleted_at is not None:
                errors.add(row, "deal", "The deal is deleted.")
            if account_id is None:
                account_id = deal_account_id
            elif account_id != deal_account_id:
                errors.add(row, "account", "The deal belongs to another account.")
        if account_id is not None:
            if account_id not in accounts:
                errors.add(row, "account", f"No account {account_id!r}.")
            elif accounts[account_id] is not None:
                errors.add(row, "account", "The account is deleted.")
        if not errors.items:
            created_at = min(spec.occurred_at, now)
            rows.append(
                (
                    spec.kind,
                    subject,
                    spec.body,
                    spec.occurred_at,
                    spec.author_id,
                    spec.deal_id,
                    account_id,
                    created_at,
                )
            )
    errors.raise_if_any()
    with transaction.atomic():
        _insert(
            Activity,
            [
                "kind",
                "subject",
                "body",
                "occurred_at",
                "author_id",
                "deal_id",
                "account_id",
                "created_at",
            ],
            rows,
            batch_size,
        )
    return len(rows)


# ---------------------------------------------------------------------------
# Writing rows
# ---------------------------------------------------------------------------


def _insert(
    model, columns: list[str], rows, batch_size: int, *, return_ids: bool = False
) -> list[int]:
    """Insert ``rows`` (sequences of values for ``columns``, attnames); the new ids if asked for."""
    if connection.vendor == "postgresql":
        rows = rows if isinstance(rows, list) else list(rows)
        ids = []
        if return_ids:
            ids = _reserve_ids(model, len(rows))
            columns = [model._meta.pk.attname, *columns]
            rows = [(pk, *row) for pk, row in zip(ids, rows, strict=True)]
        _copy(model, columns, rows)
        return ids
    objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
    model._base_manager.bulk_create(objects, batch_size=batch_size)
    return [obj.pk for obj in objects] if return_ids else []


def _reserve_ids(model, count: int) -> list[int]:
    """Take ``count`` ids from the table's sequence, so rows can be copied in with known ids."""
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return sorted(pk for (pk,) in cursor.fetchall())


def _copy(model, columns: list[str], rows: list) -> None:
    """COPY rows into the model's table, as CSV: NULL is an unquoted empty field."""
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in columns]
    not_null_text = [
        quote(f.column)
        for f in fields
        if not f.null and isinstance(f, models.CharField | models.TextField)
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    options = "FORMAT csv"
    if not_null_text:
        # An empty string in a NOT NULL text column is an empty string, not NULL.
        options += f", FORCE_NOT_NULL ({', '.join(not_null_text)})"
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN WITH ({options})"
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, buffer)
