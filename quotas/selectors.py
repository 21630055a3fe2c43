"""Reads of territories and quotas, scoped to the reader."""

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from quotas.models import ManagerTarget, Quota, TargetBasis, Territory
from salesmgr.models import Role, User
from salesmgr.selectors import self_and_team_ids_subquery, team_member_ids_subquery

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def territories_visible_to(user: User) -> QuerySet[Territory]:
    """Territories: admins all; a manager those they own and those they or their team cover;
    a rep those they cover (each with the territories inside it)."""
    if user.is_admin:
        return Territory.objects.all()
    covered = Q(pk__in=territories_covered_subquery(user, with_team=user.is_manager))
    if user.is_manager:
        covered |= Q(owner_id=user.pk)
    return Territory.objects.filter(covered)


def quotas_visible_to(user: User) -> QuerySet[Quota]:
    """Quotas: reps their own, managers their own and their team's, admins all."""
    if user.is_admin:
        return Quota.objects.all()
    mine = Q(owner_id=user.pk)
    if user.is_manager:
        mine |= Q(owner_id__in=team_member_ids_subquery(user.pk))
    return Quota.objects.filter(mine)


def manager_targets_visible_to(user: User) -> QuerySet[ManagerTarget]:
    """Managers' choices of target: admins all, a manager their own and their team's managers'; reps none
    (a rep's target is their own quota)."""
    if user.is_admin:
        return ManagerTarget.objects.all()
    if user.is_manager:
        return ManagerTarget.objects.filter(manager_id__in=self_and_team_ids_subquery(user.pk))
    return ManagerTarget.objects.none()


# The walk has no depth limit, so a loop check sees the whole tree however deep.
# It still ends on a corrupt loop: UNION adds no id twice, so the walk runs dry.
_TERRITORY_SUBTREE_SQL = """
    WITH RECURSIVE subtree(id) AS (
        SELECT id FROM quotas_territory WHERE id = %s
        UNION
        SELECT t.id
        FROM quotas_territory t JOIN subtree s ON t.parent_id = s.id
    )
    SELECT id FROM subtree
"""


def territory_subtree_ids_subquery(territory_id: int) -> RawSQL:
    """An SQL subquery of a territory's id and the ids of every territory inside it."""
    return RawSQL(_TERRITORY_SUBTREE_SQL, (territory_id,))


_COVERED_SQL = """
    WITH RECURSIVE covered(id) AS (
        SELECT territory_id FROM quotas_territory_reps WHERE user_id IN ({people})
        UNION
        SELECT t.id FROM quotas_territory t JOIN covered c ON t.parent_id = c.id
    )
    SELECT id FROM covered
"""


def territories_covered_subquery(user: User, *, with_team: bool = False) -> RawSQL:
    """The territories ``user`` (and, ``with_team``, everyone below them) is assigned to,
    with every territory inside those: one recursive query."""
    if with_team:
        team = team_member_ids_subquery(user.pk)
        people = f"SELECT %s UNION SELECT id FROM ({team.sql}) AS team"
        return RawSQL(_COVERED_SQL.format(people=people), (user.pk, *team.params))
    return RawSQL(_COVERED_SQL.format(people="%s"), (user.pk,))


# Targets: quotas prorated over any window of days, and managers' roll-ups.

Window = tuple[datetime.date, datetime.date]  # first and last day, both included


def prorated_target(
    target: Decimal, period_start: datetime.date, period_end: datetime.date, window: Window
) -> Decimal:
    """The part of a quota's target that falls in ``window``, by days (unrounded; 0 outside it).

    A quota over ``[period_start, period_end]`` counts ``target * days inside / days in its period``,
    so a month's quota counts whole in its month and a year's a twelfth-ish in each month.
    """
    first, last = window
    inside = (min(period_end, last) - max(period_start, first)).days + 1
    if inside <= 0:
        return Decimal(0)
    return target * inside / ((period_end - period_start).days + 1)


def quota_targets(owners: Q, windows: dict[str, Window]) -> dict[int, dict[str, Decimal]]:
    """Per owner with a quota overlapping any window: the prorated target in each window (one query).

    Only windows an owner's quotas touch get a key, so "has a quota here" reads as ``name in targets[owner]``.
    """
    first = min(w[0] for w in windows.values())
    last = max(w[1] for w in windows.values())
    rows = Quota.objects.filter(owners, period_start__lte=last, period_end__gte=first).values_list(
        "owner_id", "period_start", "period_end", "target"
    )
    targets: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for owner_id, period_start, period_end, target in rows:
        for name, window in windows.items():
            if period_start <= window[1] and period_end >= window[0]:
                share = prorated_target(target, period_start, period_end, window)
                targets[owner_id][name] = targets[owner_id].get(name, Decimal(0)) + share
    return {
        owner: {name: value.quantize(CENT) for name, value in by_window.items()}
        for owner, by_window in targets.items()
    }


@dataclass(frozen=True)
class PersonTarget:
    """One person's target in one window and how it was set: ``own`` (their quotas) or ``rollup`` (their team's)."""

    amount: Decimal
    basis: str
    chosen: bool  # False: the manager made no choice and METRICS.md's default applied


def team_targets(root_id: int, windows: dict[str, Window]) -> dict[int, dict[str, PersonTarget]]:
    """The target of ``root_id`` and of everyone below them, in each window (two queries).

    A rep's target is their own quotas. A manager's is their own quota or the
    roll-up of their direct reports' targets, as the manager's ``ManagerTarget``
    says; without one, their own quota where they have one in the window, else
    the roll-up. So a sub-manager who keeps their own figure counts with it in
    their manager's roll-up, whatever their reps' quotas add up to.
    """
    people = list(
        User.objects.filter(pk__in=self_and_team_ids_subquery(root_id)).values_list(
            "pk", "manager_id", "role", "target_setting__basis"
        )
    )
    own = quota_targets(Q(owner_id__in=self_and_team_ids_subquery(root_id)), windows)
    return rolled_up_targets(people, own, windows)


def rolled_up_targets(
    people: list[tuple[int, int | None, str, str | None]],
    own: dict[int, dict[str, Decimal]],
    windows: dict[str, Window],
) -> dict[int, dict[str, PersonTarget]]:
    """Everyone's target in each window (the rule of ``team_targets``) from ``people`` as
    ``(id, manager id, role, chosen basis)``, each manager with their whole team among them,
    and their own quotas (``quota_targets``). No queries."""
    reports: dict[int, list[int]] = defaultdict(list)
    known_ids = {pk for pk, *_ in people}
    for pk, manager_id, _, _ in people:
        if manager_id in known_ids:
            reports[manager_id].append(pk)
    info = {pk: (role, basis) for pk, _, role, basis in people}
    result: dict[int, dict[str, PersonTarget]] = {}

    def target_of(pk: int, name: str) -> PersonTarget:
        known = result.setdefault(pk, {})
        if name in known:
            return known[name]
        role, basis = info[pk]
        mine = own.get(pk, {})
        if role != Role.MANAGER:
            figure = PersonTarget(mine.get(name, ZERO), TargetBasis.OWN, False)
        else:
            chosen = basis is not None
            if basis is None:
                basis = TargetBasis.OWN if name in mine else TargetBasis.ROLLUP
            if basis == TargetBasis.OWN:
                figure = PersonTarget(mine.get(name, ZERO), TargetBasis.OWN, chosen)
            else:
                total = sum((target_of(child, name).amount for child in reports[pk]), ZERO)
                figure = PersonTarget(total, TargetBasis.ROLLUP, chosen)
        known[name] = figure
        return figure

    # Deepest first, so the recursion of a long reporting line never goes deep.
    roots = [pk for pk, manager_id, _, _ in people if manager_id not in known_ids]
    for root in roots:
        for pk in _deepest_first(root, reports):
            for name in windows:
                target_of(pk, name)
    return result


def _deepest_first(root_id: int, reports: dict[int, list[int]]) -> list[int]:
    level, order = [root_id], []
    seen = {root_id}
    while level:
        order[:0] = level
        level = [child for pk in level for child in reports[pk] if child not in seen]
        seen.update(level)
    return order
