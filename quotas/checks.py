"""Rules for territories and quotas: each check returns the errors it finds and writes nothing."""

import datetime
from collections.abc import Iterable
from decimal import Decimal

from quotas.models import HandoverRule, Quota, Territory
from quotas.selectors import territory_subtree_ids_subquery
from salesmgr.models import Role, User

TERRITORY_INSIDE_ITSELF = "A territory cannot sit inside itself."
TERRITORY_HAS_CHILDREN = "Move or delete the territories inside it first."
PERIOD_BACKWARDS = "The period ends before it starts."
NEGATIVE_TARGET = "A quota target cannot be negative."
OWNER_NOT_MANAGER = "The owner of a territory is a manager."
MEMBER_NOT_REP = "Only reps can be members of a territory: {name} is not a rep."
NAMED_REP_NOT_MEMBER = "The named rep must be one of the territory's members."
NAMED_REP_MISSING = "Name the rep who receives the territory's accounts."


def territory_members_errors(*, reps: Iterable[User]) -> dict[str, list[str]]:
    """A territory's members are reps."""
    wrong = [MEMBER_NOT_REP.format(name=rep) for rep in reps if rep.role != Role.REP]
    return {"reps": wrong} if wrong else {}


def territory_staff_errors(
    *, owner: User | None, reps: Iterable[User], handover_rule: str, named_rep: User | None
) -> dict[str, list[str]]:
    """What refuses a territory's staffing: an owner who is not a manager, a member who is not a rep,
    or a named-rep handover without a named rep among the members."""
    reps = list(reps)
    errors = territory_members_errors(reps=reps)
    if owner is not None and owner.role != Role.MANAGER:
        errors["owner"] = [OWNER_NOT_MANAGER]
    if handover_rule == HandoverRule.NAMED_REP and named_rep is None:
        errors["named_rep"] = [NAMED_REP_MISSING]
    elif named_rep is not None and named_rep.pk not in {rep.pk for rep in reps}:
        errors["named_rep"] = [NAMED_REP_NOT_MEMBER]
    return errors


def territory_parent_errors(*, territory: Territory, parent: Territory | None) -> dict[str, str]:
    """What refuses putting ``territory`` under ``parent``: the tree never loops."""
    if parent is None or territory.pk is None:
        return {}
    inside = Territory.objects.filter(
        pk__in=territory_subtree_ids_subquery(territory.pk), pk=parent.pk
    )
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
    overlapping = Quota.objects.filter(
        owner=owner, period_start__lte=period_end, period_end__gte=period_start
    )
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
