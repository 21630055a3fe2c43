"""Rules for territories and quotas: each check returns the errors it finds and writes nothing."""

import datetime
from decimal import Decimal

from quotas.models import Quota, Territory
from quotas.selectors import territory_subtree_ids_subquery
from salesmgr.models import User

TERRITORY_INSIDE_ITSELF = "A territory cannot sit inside itself."
TERRITORY_HAS_CHILDREN = "Move or delete the territories inside it first."
PERIOD_BACKWARDS = "The period ends before it starts."
NEGATIVE_TARGET = "A quota target cannot be negative."


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
        "period_start": (
            f"{owner} already has a quota for {clash.period_start:%Y-%m-%d} to "
            f"{clash.period_end:%Y-%m-%d}, which overlaps this period."
        )
    }
