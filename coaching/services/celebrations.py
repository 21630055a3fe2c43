"""Celebrations: quota milestones, recorded once each, and managers' shout-outs."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from coaching.checks import shout_out_errors
from coaching.models import MILESTONE_LEVELS, Milestone, MilestonePeriod, ShoutOut
from pipeline.models import Deal
from pipeline.periods import Period
from reports.runners import quota_attainment
from salesmgr.models import User


def milestones_record(*, day: datetime.date, deal_ids: list[int] | None = None) -> int:
    """Record each quota milestone reached in the month and the quarter holding ``day``; how many are new.

    Reads every person's won value and target (one query through the quota
    attainment runner; ``deal_ids`` narrows it to those deals' owners). A level is
    reached when the won value is at least that share of a positive target.
    A milestone already recorded stays as it was, even if the value has since
    fallen below it (a deal reopened), so each fires exactly once.
    """
    periods = {
        MilestonePeriod.MONTH: Period.named("month", day),
        MilestonePeriod.QUARTER: Period.named("quarter", day),
    }
    owners = Q()
    if deal_ids is not None:
        owners = Q(owner_id__in=Deal.objects.filter(pk__in=deal_ids).values("owner_id"))
    people = quota_attainment(owners, {str(kind): period for kind, period in periods.items()})
    reached = []
    for person in people.values():
        for kind, period in periods.items():
            figures = person[str(kind)]
            target, won = figures["target"], figures["won"]
            if not figures["quotas"] or target <= 0:
                continue
            reached += [
                Milestone(
                    rep_id=person["owner_id"],
                    period=kind,
                    period_start=period.start,
                    level=level,
                    won=won,
                    target=target,
                )
                for level in MILESTONE_LEVELS
                if won * 100 >= target * Decimal(level)
            ]
    if not reached:
        return 0
    before = Milestone.objects.filter(rep_id__in={m.rep_id for m in reached}).count()
    Milestone.objects.bulk_create(reached, ignore_conflicts=True)
    return Milestone.objects.filter(rep_id__in={m.rep_id for m in reached}).count() - before


@transaction.atomic
def shout_out_create(*, by: User, rep: User | None, message: str) -> ShoutOut:
    """A shout-out from ``by`` to ``rep``; refused (nothing written) when ``shout_out_errors`` finds any."""
    errors = shout_out_errors(by=by, rep=rep, message=message)
    if errors:
        raise ValidationError(errors)
    return ShoutOut.objects.create(author=by, rep=rep, message=message.strip())
