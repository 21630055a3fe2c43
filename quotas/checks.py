"""Rules for territories and quotas: each check returns the errors it finds and writes nothing."""

import datetime
from decimal import Decimal

from quotas.models import Quota, TargetBasis, Territory
from quotas.selectors import territory_subtree_ids_subquery
from salesmgr.models import Role, User

TERRITORY_INSIDE_ITSELF = "A territory cannot sit inside itself."
TERRITORY_HAS_CHILDREN = "Move or delete the territories inside it first."
PERIOD_BACKWARDS = "The period ends before it starts."
NEGATIVE_TARGET = "A quota target cannot be negative."
NOT_A_MANAGER = "Only a manager has a team target to set."
UNKNOWN_BASIS = "Choose the roll-up of the team's quotas or the manager's own quota."


def territory_parent_errors(*, territory: Territory, parent: Territory | None) -> dict[str, str]:
    """What refuses putting ``territory`` under ``parent``: the tree never loops."""
    if parent is None or territory.pk is None:
        return {}
    inside = Territory.objects.filter(pk__in=territory_subtree_ids_subquery(territory.pk), pk=parent.pk)
    return {"parent": TERRITORY_INSIDE_ITSELF} if inside.exists() else {}


def territory_delete_errors(*, territory: Territory) -> dict[str, str]:
    """What refuses deleting ``territory``: the territories inside it."""
    return {"detail": TERRITORY_HAS_CHILDREN} if territory.children.exists() else {}


def quota_errors(
    *,
    owner: User,
    period_start: datetime.date,
    period_end: datetime.date,
    target: Decimal,
    quota: Quota | None = None,
) -> dict[str, str]:
    """What refuses a quota: a backwards period, a negative target, or an overlap with another of the owner's."""
    if period_end < period_start:
        return {"period_end": PERIOD_BACKWARDS}
    if target < 0:
        return {"target": NEGATIVE_TARGET}
    overlapping = Quota.objects.filter(owner=owner, period_start__lte=period_end, period_end__gte=period_start)
    if quota is not None and quota.pk:
        overlapping = overlapping.exclude(pk=quota.pk)
    clash = overlapping.first()
    if clash is None:
        return {}
    return {
        "period_start": quota_overlap_message(
            owner=owner, period_start=clash.period_start, period_end=clash.period_end
        )
    }


def manager_target_errors(*, manager: User, basis: str) -> dict[str, str]:
    """What refuses a manager's choice of target: a person who is no manager, or an unknown basis."""
    if manager.role != Role.MANAGER:
        return {"manager": NOT_A_MANAGER}
    if basis not in TargetBasis.values:
        return {"basis": UNKNOWN_BASIS}
    return {}


def quota_overlap_message(*, owner: User, period_start: datetime.date, period_end: datetime.date) -> str:
    """The one wording of a refused overlap, naming the quota already there."""
    return (
        f"{owner} already has a quota for {period_start:%Y-%m-%d} to "
        f"{period_end:%Y-%m-%d}, which overlaps this period."
    )
