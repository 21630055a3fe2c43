"""Checking deal rows against the rules, in a few queries per batch, and working out each deal's past."""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pipeline.checks.deals import (
    account_errors,
    amount_errors,
    close_date_errors,
    deal_field_errors,
    external_id_errors,
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
    ForecastCategory,
    LostReason,
    Pipeline,
    Product,
    Stage,
    StageKind,
    line_total,
)
from pipeline.selectors import deal_external_ids_taken
from pipeline.services.imports.parsing import (
    CHANGEABLE_FIELDS,
    DealSpec,
    ErrorCollector,
    as_decimal,
    is_aware,
)
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery
from salesmgr.values import parse_date

# Before its first recorded change a field holds what a new deal gets by
# default; a close date has no default, so its first change must be at creation.
_VALUE_BEFORE_FIRST_CHANGE = {
    "amount": Decimal("0.00"),
    "forecast_category": ForecastCategory.PIPELINE,
}


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


def check_owners(by: User, owner_ids: set[int]) -> None:
    allowed = allowed_owner_ids(by)
    if allowed is not None and not owner_ids <= allowed:
        raise PermissionDenied("You can only import records for yourself and your team.")


def _normalise_change(
    errors: ErrorCollector, row: int, where: str, change_field: str, value: Any
) -> Any:
    """The change's value in the field's own type, or None (with an error) if it is invalid."""
    if change_field == "amount":
        value = as_decimal(value)
        problems = amount_errors(value)
    elif change_field == "expected_close_date":
        value = parse_date(value)
        problems = close_date_errors(value)
    else:
        problems = forecast_category_errors(value)
    for message in problems:
        errors.add(row, where, message)
    return None if problems else value


# What changes over a deal's life: one tuple per point in time, in this order.
STATE_FIELDS = (
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
class DealPlan:
    """A checked deal: its row, transitions, line items and the states it went through."""

    values: dict  # Deal attname -> value, without the id
    transitions: list[tuple[int | None, int, datetime.datetime, int | None]]  # from, to, at, by
    line_items: list[tuple[int, Decimal, Decimal, Decimal]]
    # (at, history_user_id, *state in STATE_FIELDS order), one per point where something changed
    states: list[tuple]


class DealContext:
    """What the checks need to know about the rows a batch refers to, loaded in a few queries."""

    def __init__(self, specs: list[DealSpec]):
        self.stages = {
            pk: (pipeline_id, kind, name)
            for pk, pipeline_id, kind, name in Stage.objects.values_list(
                "pk", "pipeline_id", "kind", "name"
            )
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
        # Unique per owner: the owners are ones the importer may act for (``check_owners``),
        # so a refusal names only deals the importer can see.
        self.taken_external_ids = deal_external_ids_taken(
            {(s.owner_id, s.external_id) for s in specs if s.external_id}
        )


def plan_deal(
    row: int,
    spec: DealSpec,
    context: DealContext,
    now: datetime.datetime,
    errors: ErrorCollector,
    seen_external_ids: set[tuple],
) -> DealPlan | None:
    """Check one row and work out its history; None when the row has errors (added to ``errors``)."""
    before = len(errors.items)
    amount = as_decimal(spec.amount)
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
        errors.extend(
            row, account_errors(account_deleted=context.accounts[spec.account_id] is not None)
        )
    if spec.owner_id not in context.users:
        errors.add(row, "owner", f"No user {spec.owner_id!r}.")
    else:
        errors.extend(row, owner_errors(owner_active=context.users[spec.owner_id]))
    external_id = spec.external_id or None
    if external_id is not None:
        key = (spec.owner_id, external_id)
        if key in seen_external_ids:
            errors.add(
                row, "external_id", f"external_id {external_id!r} is given by an earlier row."
            )
        elif key in context.taken_external_ids:
            errors.extend(row, external_id_errors(taken=True))
        seen_external_ids.add(key)
    created_at = spec.created_at
    if not is_aware(created_at):
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
        pipeline_errors(
            pipeline_name=pipeline_name, is_active=pipeline_active, stage_kinds=stage_kinds
        ),
    )
    stage = context.stages.get(spec.stage_id)
    if stage is None:
        errors.add(row, "stage", f"No stage {spec.stage_id!r}.")
        return None
    stage_problems = stage_errors(
        stage_name=stage[2], stage_pipeline_id=stage[0], pipeline_id=spec.pipeline_id
    )
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
    return DealPlan(values=values, transitions=transitions, line_items=line_items, states=states)


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
        if not is_aware(at):
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
        stage_problems = stage_errors(
            stage_name=stage[2], stage_pipeline_id=stage[0], pipeline_id=spec.pipeline_id
        )
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
        if not is_aware(at):
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
            as_decimal(quantity),
            as_decimal(unit_price),
            as_decimal(discount_pct),
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
        errors.extend(
            row, line_items_amount_errors(has_line_items=True, amount=amount, total=total)
        )
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
        snapshot = tuple(state[name] for name in STATE_FIELDS)
        if not states or snapshot != states[-1][2:]:
            states.append((at, user_id, *snapshot))
    return states
