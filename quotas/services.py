"""Writes to territories and quotas."""

import datetime
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from quotas.checks import (
    quota_errors,
    territory_delete_errors,
    territory_parent_errors,
    territory_staff_errors,
)
from quotas.models import HandoverRule, Quota, QuotaPeriod, Territory
from salesmgr.models import User

TERRITORY_FIELDS = ("name", "region", "owner", "handover_rule", "named_rep")


def territory_create(
    *,
    name: str,
    region: str = "",
    parent: Territory | None = None,
    reps: Iterable[User] = (),
    owner: User | None = None,
    handover_rule: str = HandoverRule.ROUND_ROBIN,
    named_rep: User | None = None,
    by: User,
) -> Territory:
    """Add a territory, under ``parent`` if given, with its owner (a manager) and its members (reps)."""
    reps = list(reps)
    _refuse_all(
        territory_staff_errors(
            owner=owner, reps=reps, handover_rule=handover_rule, named_rep=named_rep
        )
    )
    with transaction.atomic():
        territory = Territory(
            name=name,
            region=region,
            parent=parent,
            owner=owner,
            handover_rule=handover_rule,
            named_rep=named_rep,
        )
        territory.full_clean()
        territory.save()
        territory.reps.set(reps)
    return territory


def territory_update(
    *, territory: Territory, by: User, reps: Iterable[User] | None = None, **changes
) -> Territory:
    """Rename a territory, change its region, owner, handover rule, reps or (through
    ``territory_set_parent``) its parent. Accounts move only when a realignment runs."""
    parent_given = "parent" in changes
    parent = changes.pop("parent", None)
    unknown = set(changes) - set(TERRITORY_FIELDS)
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))}.")
    if reps is not None:
        reps = list(reps)
    _refuse_all(
        territory_staff_errors(
            owner=changes.get("owner", territory.owner),
            reps=reps if reps is not None else list(territory.reps.all()),
            handover_rule=changes.get("handover_rule", territory.handover_rule),
            named_rep=changes.get("named_rep", territory.named_rep),
        )
    )
    with transaction.atomic():
        if parent_given:
            territory_set_parent(territory=territory, parent=parent)
        for field, value in changes.items():
            setattr(territory, field, value)
        if changes:
            territory.full_clean()
            territory.save(update_fields=list(changes))
        if reps is not None:
            territory.reps.set(reps)
    return territory


def territory_set_parent(*, territory: Territory, parent: Territory | None) -> Territory:
    """Move a territory under ``parent``; refuses a move that would make a loop.

    Both rows are locked during the check so two concurrent moves cannot close a loop together.
    """
    with transaction.atomic():
        if parent is not None:
            list(Territory.objects.select_for_update().filter(pk__in=[territory.pk, parent.pk]))
        _refuse(territory_parent_errors(territory=territory, parent=parent))
        territory.parent = parent
        territory.save(update_fields=["parent"])
    return territory


def territory_delete(*, territory: Territory, by: User) -> None:
    """Delete a territory; refused while territories sit inside it. Its accounts keep no territory."""
    with transaction.atomic():
        _refuse(territory_delete_errors(territory=territory))
        territory.delete()


def quota_set(
    *,
    owner: User,
    period_start: datetime.date,
    period_end: datetime.date,
    target: Decimal,
    period: str = QuotaPeriod.MONTH,
    quota: Quota | None = None,
) -> Quota:
    """Create or change a quota; a person's quota periods may not overlap.

    The owner's row is locked during the check so that two concurrent writes
    cannot both slip in an overlapping period.
    """
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=owner.pk).first()
        _refuse(
            quota_errors(
                owner=owner,
                period_start=period_start,
                period_end=period_end,
                target=target,
                quota=quota,
            )
        )
        quota = quota or Quota(owner=owner)
        quota.owner = owner
        quota.period = period
        quota.period_start = period_start
        quota.period_end = period_end
        quota.target = target
        quota.save()
    return quota


def quota_delete(*, quota: Quota, by: User) -> None:
    """Delete a quota."""
    quota.delete()


def _refuse_all(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)
