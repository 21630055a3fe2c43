"""Reads of territories and quotas, scoped to the reader."""

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from quotas.models import Quota, Territory
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery


def territories_visible_to(user: User) -> QuerySet[Territory]:
    """Territories are the map of the market: everyone reads them."""
    return Territory.objects.all()


def quotas_visible_to(user: User) -> QuerySet[Quota]:
    """Quotas: reps their own, managers their own and their team's, admins all."""
    if user.is_admin:
        return Quota.objects.all()
    mine = Q(owner_id=user.pk)
    if user.is_manager:
        mine |= Q(owner_id__in=team_member_ids_subquery(user.pk))
    return Quota.objects.filter(mine)


_TERRITORY_SUBTREE_SQL = """
    WITH RECURSIVE subtree(id, depth) AS (
        SELECT id, 0 FROM quotas_territory WHERE id = %s
        UNION
        SELECT t.id, s.depth + 1
        FROM quotas_territory t JOIN subtree s ON t.parent_id = s.id
        WHERE s.depth < 32
    )
    SELECT id FROM subtree
"""


def territory_subtree_ids_subquery(territory_id: int) -> RawSQL:
    """An SQL subquery of a territory's id and the ids of every territory inside it."""
    return RawSQL(_TERRITORY_SUBTREE_SQL, (territory_id,))
