"""The newest activities a person wrote."""

import datetime
from dataclasses import dataclass

from pipeline.models import Activity


@dataclass(frozen=True)
class RecentActivityRunner:
    """The newest activities a person wrote, up to now (one query)."""

    user_id: int
    now: datetime.datetime
    limit: int = 10

    def run(self) -> list[Activity]:
        return list(
            Activity.objects.filter(author_id=self.user_id, occurred_at__lte=self.now)
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
