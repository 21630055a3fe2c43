"""Reads of territories and quotas, scoped to the reader."""

from django.db.models import Q, QuerySet

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
