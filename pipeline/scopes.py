"""Scopes: which deals a figure, a board or a list covers, and who may ask for which.

A scope combines (AND) an owner, a manager's team (everyone below them, at any
depth), a territory (with the territories inside it), a pipeline and a
product; an empty scope is the whole organisation. Its ``key`` names it in the
snapshot tables, so the key of a scope never changes.

A territory holds the deals of the accounts in it. Taken at a past moment
(``territory_at``), an account counts where its history puts it then, so a
later realignment leaves past figures as they were; live figures read the
account's present territory.
"""

import datetime
from dataclasses import dataclass, fields

from django.db.models import F, OuterRef, Q
from django.db.models.lookups import In
from django.http import Http404

from pipeline.models import DealLineItem
from pipeline.selectors import account_territory_at, accounts_in_territories_at
from quotas.models import Territory
from quotas.selectors import territory_subtree_ids_subquery
from salesmgr.models import User
from salesmgr.selectors import is_in_team, team_member_ids_subquery


@dataclass(frozen=True)
class Scope:
    owner: int | None = None
    team: int | None = None
    territory: int | None = None
    pipeline: int | None = None
    product: int | None = None

    @property
    def is_organisation(self) -> bool:
        return not self.parts

    @property
    def key(self) -> str:
        """A stable text key for snapshot tables, e.g. ``team=4`` or ``org``."""
        parts = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) is not None
        ]
        return ";".join(parts) or "org"

    @property
    def parts(self) -> list["Scope"]:
        """The one-condition scopes this one is the intersection of (none for the organisation)."""
        return [
            Scope(**{f.name: getattr(self, f.name)})
            for f in fields(self)
            if getattr(self, f.name) is not None
        ]

    @classmethod
    def from_key(cls, key: str) -> "Scope":
        """The scope a ``key`` names (the inverse of ``key``)."""
        if key == "org":
            return cls()
        return cls(
            **{name: int(value) for name, value in (part.split("=") for part in key.split(";"))}
        )

    def deal_filter(
        self, prefix: str = "", *, territory_at: datetime.datetime | str | None = None
    ) -> Q:
        """The condition on deal rows (``prefix`` reaches them from another model, e.g. ``deal__``).

        ``territory_at`` places each deal's account in the territory it lay in
        at that moment: a datetime for every row (the accounts of the
        territory then, read once), or the name of a moment of the row's own
        (``"closed_at"``: looked up row by row). None reads the present one.
        """
        condition = Q()
        if self.owner is not None:
            condition &= Q(**{f"{prefix}owner_id": self.owner})
        if self.team is not None:
            condition &= Q(**{f"{prefix}owner_id__in": team_member_ids_subquery(self.team)})
        if self.territory is not None:
            condition &= self._territory_filter(prefix, territory_at)
        if self.pipeline is not None:
            condition &= Q(**{f"{prefix}pipeline_id": self.pipeline})
        if self.product is not None:
            condition &= Q(
                **{
                    f"{prefix}id__in": DealLineItem.objects.filter(product_id=self.product).values(
                        "deal_id"
                    )
                }
            )
        return condition

    def _territory_filter(self, prefix: str, territory_at: datetime.datetime | str | None) -> Q:
        subtree = territory_subtree_ids_subquery(self.territory)
        if territory_at is None:
            return Q(**{f"{prefix}account__territory_id__in": subtree})
        if isinstance(territory_at, datetime.datetime):
            return Q(
                **{f"{prefix}account_id__in": accounts_in_territories_at(subtree, territory_at)}
            )
        territory_then = account_territory_at(
            OuterRef(f"{prefix}{territory_at}"),
            account=OuterRef(f"{prefix}account_id"),
            live=F(f"{prefix}account__territory_id"),
        )
        return Q(In(territory_then, subtree))

    def quota_owner_filter(self) -> Q | None:
        """Whose quotas count for this scope; None when quotas do not apply (pipeline, product).

        The people of every condition at once (AND), as ``deal_filter`` does
        for deals: a manager's team in a territory is the team's reps who sell
        there. The organisation is every rep.
        """
        return self.people_filter("owner__")

    def people_filter(self, prefix: str = "") -> Q | None:
        """The people of this scope, as a condition on users (``prefix`` reaches them from
        another model, e.g. ``owner__``); None for a pipeline or product, which no one is."""
        if self.pipeline is not None or self.product is not None:
            return None
        if self.is_organisation:
            return Q(**{f"{prefix}role": "rep"})
        condition = Q()
        if self.owner is not None:
            condition &= Q(**{f"{prefix}id": self.owner})
        if self.team is not None:
            condition &= Q(**{f"{prefix}id__in": team_member_ids_subquery(self.team)})
        if self.territory is not None:
            condition &= Q(
                **{
                    f"{prefix}id__in": Territory.reps.through.objects.filter(
                        territory_id__in=territory_subtree_ids_subquery(self.territory)
                    ).values("user_id")
                }
            )
        return condition


def scope_for(user: User, requested: Scope) -> Scope:
    """The scope ``user`` may see for what they asked; 404 for anything outside their reach.

    A rep always gets their own figures; a manager asking for no person or
    team gets their team, and may ask for themselves, their team or anyone in
    it; an admin may ask for anything.
    """
    if user.is_admin:
        return requested
    if user.is_rep:
        if requested.team is not None or requested.owner not in (None, user.pk):
            raise Http404("No such scope.")
        return Scope(**{**requested.__dict__, "owner": user.pk})
    if (
        requested.owner is not None
        and requested.owner != user.pk
        and not is_in_team(manager=user, user_id=requested.owner)
    ):
        raise Http404("No such scope.")
    if (
        requested.team is not None
        and requested.team != user.pk
        and not is_in_team(manager=user, user_id=requested.team)
    ):
        raise Http404("No such scope.")
    if requested.owner is None and requested.team is None:
        return Scope(**{**requested.__dict__, "team": user.pk})
    return requested
