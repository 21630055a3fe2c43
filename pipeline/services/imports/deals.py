"""Importing deals with their past."""

import datetime

from django.db import transaction
from django.utils import timezone

from pipeline.models import Deal
from pipeline.services.imports.parsing import DealSpec, ErrorCollector, is_aware
from pipeline.services.imports.planning import DealContext, check_owners, plan_deal
from pipeline.services.imports.writing import write_deals
from pipeline.signals import deals_changed
from salesmgr.errors import PermissionDenied
from salesmgr.models import User

# A creation time this far before now counts as a date in the past (clocks of callers drift).
PAST_TOLERANCE = datetime.timedelta(minutes=5)
PAST_ADMINS_ONLY = "Only admins may give a date in the past."


def deals_import(
    *, specs: list[DealSpec], by: User, batch_size: int = 2000, dry_run: bool = False
) -> list[int]:
    """Create deals together with their stage transitions and change history; returns their ids in row order.

    Each deal gets one historical version per point in time at which any of
    its tracked values changed, each holding the whole deal as it stood then,
    so ``deal_as_of`` answers for any past date. Rows with a past (more than
    the creating transition, or changes) are for admins. A bad row raises
    ``RowErrors`` and nothing is written. ``batch_size`` caps the rows of one
    INSERT where COPY is not used. Only admins may date anything in the past.
    With ``dry_run`` the rows are checked and nothing is written (the answer is []).
    """
    if not specs:
        return []
    check_owners(by, {spec.owner_id for spec in specs})
    if not by.is_admin and any(len(spec.transitions) > 1 or spec.changes for spec in specs):
        raise PermissionDenied("Only admins may import a deal's past.")
    now = timezone.now()
    context = DealContext(specs)
    errors = ErrorCollector()
    seen_external_ids: set[tuple] = set()
    plans = []
    for row, spec in enumerate(specs):
        if not by.is_admin and is_aware(spec.created_at) and spec.created_at < now - PAST_TOLERANCE:
            errors.add(row, "created_at", PAST_ADMINS_ONLY)
        plan = plan_deal(row, spec, context, now, errors, seen_external_ids)
        if plan is not None:
            plans.append(plan)
    errors.raise_if_any()
    if dry_run:
        return []

    with transaction.atomic():
        deal_ids = write_deals(plans, batch_size)
        transaction.on_commit(lambda: deals_changed.send(sender=Deal, deal_ids=deal_ids))
    return deal_ids
