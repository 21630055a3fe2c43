"""Reads of territories and quotas, scoped to the reader."""

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from quotas.models import Quota, Territory
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery


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
