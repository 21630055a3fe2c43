"""Logging what happened with a client."""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline.models import Account, Activity, ActivityKind, Deal
from salesmgr.models import User


def activity_log(
    *,
    by: User,
    kind: str,
    subject: str,
    body: str = "",
    occurred_at: datetime.datetime | None = None,
    deal: Deal | None = None,
    account: Account | None = None,
) -> Activity:
    """Record a note, call, email, meeting or client visit.

    An activity on a deal also belongs to the deal's account, so the account's
    timeline shows it.
    """
    errors = {}
    if kind not in ActivityKind.values:
        errors["kind"] = f"Unknown activity kind {kind!r}; use one of {', '.join(ActivityKind.values)}."
    if not subject or not subject.strip():
        errors["subject"] = "Give the activity a subject."
    if deal is None and account is None:
        errors["deal"] = "An activity belongs to a deal or an account."
    if deal is not None:
        if deal.deleted_at is not None:
            errors["deal"] = "The deal is deleted."
        if account is None:
            account = deal.account
        elif account.pk != deal.account_id:
            errors["account"] = "The deal belongs to another account."
    if account is not None and account.deleted_at is not None:
        errors["account"] = "The account is deleted."
    if errors:
        raise ValidationError(errors)
    activity = Activity(
        kind=kind,
        subject=subject.strip(),
        body=body,
        occurred_at=occurred_at or timezone.now(),
        author=by,
        deal=deal,
        account=account,
    )
    activity.save()
    return activity
