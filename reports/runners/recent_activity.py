"""The newest activities a person wrote."""

import datetime
from dataclasses import dataclass

from pipeline.models import Activity
from pipeline.selectors import activities_visible_to
from salesmgr.models import User


@dataclass(frozen=True)
class RecentActivityRunner:
    """The newest activities a person wrote, up to now (one query).

    Read through ``activities_visible_to``: an activity on a deal (or account)
    since given to someone outside the writer's scope stays in the list, its
    deal (account) hidden (``Activity.shown_deal``, ``shown_account``).
    """

    user: User
    now: datetime.datetime
    limit: int = 10

    def run(self) -> list[Activity]:
        return list(
            activities_visible_to(self.user)
            .filter(author_id=self.user.pk, occurred_at__lte=self.now)
            .select_related("deal", "account")
            .only(
                "id",
                "kind",
                "subject",
                "occurred_at",
                "deal__id",
                "deal__name",
                "account__id",
                "account__name",
            )
            .order_by("-occurred_at", "-id")[: self.limit]
        )
