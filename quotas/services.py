"""Writes to territories and quotas."""

import datetime
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from quotas.checks import (
    QuotaRow,
    RowError,
    manager_target_errors,
    quota_errors,
    quota_rows_errors,
    territory_delete_errors,
    territory_parent_errors,
    territory_staff_errors,
)
from quotas.models import HandoverRule, ManagerTarget, Quota, QuotaPeriod, Territory
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


def manager_target_set(*, manager: User, basis: str, by: User) -> ManagerTarget:
    """Say whether ``manager``'s target is the roll-up of their team's quotas or their own quota."""
    _refuse(manager_target_errors(manager=manager, basis=basis))
    setting, _ = ManagerTarget.objects.update_or_create(manager=manager, defaults={"basis": basis})
    return setting


def manager_target_clear(*, manager: User, by: User) -> None:
    """Forget ``manager``'s choice: their target is then their own quota where they have one, else the
    roll-up (METRICS.md's default)."""
    ManagerTarget.objects.filter(manager=manager).delete()


def quota_cell_set(
    *,
    owner: User,
    period_start: datetime.date,
    period_end: datetime.date,
    period: str,
    target: Decimal | None,
    by: User,
) -> Quota | None:
    """Set the owner's quota over exactly this period (the planner's cell): create it, change its target,
    or, with no target, delete it. Any other overlapping quota refuses it (``quota_errors``)."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=owner.pk).first()
        exact = Quota.objects.filter(
            owner=owner, period_start=period_start, period_end=period_end
        ).first()
        if target is None:
            if exact is not None:
                quota_delete(quota=exact, by=by)
            return None
        return quota_set(
            owner=owner,
            period_start=period_start,
            period_end=period_end,
            target=target,
            period=period,
            quota=exact,
        )


class UploadRefused(Exception):
    """An upload with bad rows: nothing was written. ``errors`` name each row, field and reason."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} rows are refused.")
        self.errors = errors


def quotas_upload(*, rows: list[dict], by: User, dry_run: bool = False) -> dict:
    """Write many quotas at once, all or none: each row creates a quota or replaces the owner's quota over
    exactly that period (``quota_rows_errors``). ``dry_run`` checks and writes nothing.

    Raises ``UploadRefused`` when any row is bad. The owners' rows are locked while
    checking and writing, so a concurrent write cannot slip in an overlap. A fixed number of queries.
    """
    with transaction.atomic():
        if not dry_run:
            keys = {str(raw.get("owner") or "").strip() for raw in rows}
            list(
                User.objects.select_for_update()
                .filter(Q(username__in=keys) | Q(email__in=keys))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        checked, errors = quota_rows_errors(rows)
        if errors:
            raise UploadRefused(errors)
        replaced = [row for row in checked if row.replaces is not None]
        created = [row for row in checked if row.replaces is None]
        if not dry_run:
            _write_rows(replaced, created)
    return {
        "rows": len(checked),
        "created": len(created),
        "updated": len(replaced),
        "dry_run": dry_run,
    }


def _write_rows(replaced: list[QuotaRow], created: list[QuotaRow]) -> None:
    quotas = []
    for row in replaced:
        row.replaces.period = row.period
        row.replaces.target = row.target
        quotas.append(row.replaces)
    if quotas:
        Quota.objects.bulk_update(quotas, ["period", "target"])
    Quota.objects.bulk_create(
        Quota(owner=row.owner, period=row.period, period_start=row.period_start, period_end=row.period_end,
              target=row.target)
        for row in created
    )  # fmt: skip


def _refuse_all(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)
