"""Reads of people and the reporting line."""

from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from salesmgr.models import User

# The subtree below one user, walked by the database in one recursive query.
# The walk has no depth limit, so cycle checks see the whole line however long;
# it still ends on corrupt data, because UNION never adds an id twice.
_SUBTREE_SQL = """
    WITH RECURSIVE subtree(id) AS (
        SELECT id FROM salesmgr_user WHERE manager_id = %s
        UNION
        SELECT u.id FROM salesmgr_user u JOIN subtree s ON u.manager_id = s.id
    )
    SELECT id FROM subtree
"""

# The same walk, starting from the user: them and everyone below them.
_SELF_AND_SUBTREE_SQL = """
    WITH RECURSIVE subtree(id) AS (
        SELECT id FROM salesmgr_user WHERE id = %s
        UNION
        SELECT u.id FROM salesmgr_user u JOIN subtree s ON u.manager_id = s.id
    )
    SELECT id FROM subtree
"""

_ANCESTORS_SQL = """
    WITH RECURSIVE chain(id, manager_id) AS (
        SELECT id, manager_id FROM salesmgr_user WHERE id = %s
        UNION
        SELECT u.id, u.manager_id FROM salesmgr_user u JOIN chain c ON u.id = c.manager_id
    )
    SELECT id FROM chain WHERE id <> %s
"""


def team_member_ids_subquery(manager_id: int) -> RawSQL:
    """An SQL subquery of the ids of everyone below ``manager_id`` at any depth.

    Use it as ``filter(owner_id__in=team_member_ids_subquery(m.pk))`` so the
    team and the records it owns come back in a single query.
    """
    return RawSQL(_SUBTREE_SQL, (manager_id,))


def self_and_team_ids_subquery(user_id: int) -> RawSQL:
    """An SQL subquery of ``user_id`` and everyone below them.

    Visibility filters use it as one ``IN`` condition instead of an OR of two.
    """
    return RawSQL(_SELF_AND_SUBTREE_SQL, (user_id,))


def team_of(manager: User) -> QuerySet[User]:
    """Everyone who reports to ``manager``, directly or through other managers."""
    return User.objects.filter(pk__in=team_member_ids_subquery(manager.pk))


def team_with_self(user: User) -> QuerySet[User]:
    """``user`` and everyone below them."""
    return User.objects.filter(Q(pk=user.pk) | Q(pk__in=team_member_ids_subquery(user.pk)))


def ancestor_ids_subquery(user_id: int) -> RawSQL:
    """An SQL subquery of the ids of ``user_id``'s manager, their manager, and so on up."""
    return RawSQL(_ANCESTORS_SQL, (user_id, user_id))


def ancestor_ids(user_id: int) -> set[int]:
    """The ids of ``user_id``'s manager, their manager, and so on up."""
    return set(
        User.objects.filter(pk__in=ancestor_ids_subquery(user_id)).values_list("pk", flat=True)
    )


def users_visible_to(user: User) -> QuerySet[User]:
    """People ``user`` may see: admins see all, others themselves, their team and their managers."""
    if user.is_admin:
        return User.objects.all()
    return User.objects.filter(
        Q(pk=user.pk)
        | Q(pk__in=team_member_ids_subquery(user.pk))
        | Q(pk__in=RawSQL(_ANCESTORS_SQL, (user.pk, user.pk)))
    )


def is_in_team(*, manager: User, user_id: int) -> bool:
    """Whether ``user_id`` is below ``manager`` in the reporting line."""
    return team_of(manager).filter(pk=user_id).exists()


def may_act_for(*, actor: User, owner_id: int) -> bool:
    """Whether ``actor`` may own or reassign records for ``owner_id``.

    Admins act for anyone, managers for themselves and their team, reps for
    themselves only.
    """
    if actor.is_admin or actor.pk == owner_id:
        return True
    return actor.is_manager and is_in_team(manager=actor, user_id=owner_id)


def owners_acted_for(*, actor: User, owner_ids: set[int]) -> set[int]:
    """Those of ``owner_ids`` that ``actor`` may act for (the rule of ``may_act_for``), in at most one query."""
    if actor.is_admin:
        return set(owner_ids)
    acted = {actor.pk} & set(owner_ids)
    others = set(owner_ids) - acted
    if actor.is_manager and others:
        acted |= set(team_of(actor).filter(pk__in=others).values_list("pk", flat=True))
    return acted
