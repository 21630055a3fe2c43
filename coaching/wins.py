"""The wins feed: each won deal with its rep and value, newest first, for celebrating them.

Built on the deals a person may see (``deals_visible_to``): a manager's team at
any depth, a rep their own, an admin everyone's; ``scope`` narrows it (a team,
a rep). The value is in the reporting currency at the rate of the close date;
a deal in a currency without a rate then is listed with a null value and its
amount as entered, never converted silently.
"""

from django.db.models import QuerySet

from pipeline.models import Deal, StageKind
from pipeline.money import at_close
from pipeline.scopes import Scope
from pipeline.selectors import deals_visible_to
from salesmgr.models import User


def wins_visible_to(user: User, scope: Scope) -> QuerySet[Deal]:
    """The won deals of ``scope`` that ``user`` may see, newest first (ties by id), with ``value``."""
    return (
        deals_visible_to(user)
        .filter(scope.deal_filter(), status=StageKind.WON)
        .select_related("owner", "account")
        .only(
            "pk",
            "name",
            "amount",
            "currency",
            "closed_at",
            "owner__username",
            "owner__full_name",
            "owner__first_name",
            "owner__last_name",
            "account__name",
        )
        .annotate(value=at_close())
        .order_by("-closed_at", "-pk")
    )
