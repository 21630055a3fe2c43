"""Writes to territories and quotas."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from quotas.models import Quota, QuotaPeriod, Territory
from quotas.selectors import territory_subtree_ids_subquery
from salesmgr.models import User


def territory_set_parent(*, territory: Territory, parent: Territory | None) -> Territory:
    """Move a territory under ``parent``; refuses a move that would make a loop.

    Both rows are locked during the check so two concurrent moves cannot close a loop together.
    """
    with transaction.atomic():
        if parent is not None:
            list(Territory.objects.select_for_update().filter(pk__in=[territory.pk, parent.pk]))
            inside = Territory.objects.filter(pk__in=territory_subtree_ids_subquery(territory.pk), pk=parent.pk)
            if inside.exists():
                raise ValidationError({"parent": "A territory cannot sit inside itself."})
        territory.parent = parent
        territory.save(update_fields=["parent"])
    return territory


def quota_set(
    *,
    owner: User,
    period_start: datetime.date,
    period_end: datetime.date,
    target: Decimal,
    period: str = QuotaPeriod.MONTH,
    quota: Quota | None = None,
) -> Quota:
    """Create or change a quota; a person's quota periods may not overlap.

    The owner's row is locked during the check so that two concurrent writes
    cannot both slip in an overlapping period.
    """
    if period_end < period_start:
        raise ValidationError({"period_end": "The period ends before it starts."})
    if target < 0:
        raise ValidationError({"target": "A quota target cannot be negative."})
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=owner.pk).first()
        overlapping = Quota.objects.filter(
            owner=owner, period_start__lte=period_end, period_end__gte=period_start
        )
        if quota is not None and quota.pk:
            overlapping = overlapping.exclude(pk=quota.pk)
        clash = overlapping.first()
        if clash is not None:
            raise ValidationError(
                {
                    "period_start": (
                        f"{owner} already has a quota for {clash.period_start:%Y-%m-%d} to "
                        f"{clash.period_end:%Y-%m-%d}, which overlaps this period."
                    )
                }
            )
        quota = quota or Quota(owner=owner)
        quota.owner = owner
        quota.period = period
        quota.period_start = period_start
        quota.period_end = period_end
        quota.target = target
        quota.save()
    return quota
