"""Logging what happened with a client."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pipeline.checks.activities import (
    ONLY_AUTHOR_CHANGES,
    activity_change_allowed,
    activity_content_errors,
    activity_log_errors,
)
from pipeline.models import Account, Activity, Deal
from pipeline.webhooks import events as webhook_events
from salesmgr.errors import PermissionDenied
from salesmgr.models import User

ACTIVITY_EDITABLE_FIELDS = ("kind", "subject", "body", "occurred_at")


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
    errors = activity_log_errors(kind=kind, subject=subject, deal=deal, account=account)
    if errors:
        raise ValidationError(errors)
    activity = Activity(
        kind=kind,
        subject=subject.strip(),
        body=body,
        occurred_at=occurred_at or timezone.now(),
        author=by,
        deal=deal,
        account=account or deal.account,
    )
    with transaction.atomic():
        activity.save()
        webhook_events.activity_logged(
            activity_id=activity.pk, deal_id=activity.deal_id, account_id=activity.account_id
        )
    return activity


def activity_update(*, activity: Activity, by: User, **changes) -> Activity:
    """Correct what an activity says; what it is about, and who logged it, stay."""
    unknown = set(changes) - set(ACTIVITY_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))}.")
    if not activity_change_allowed(activity=activity, by=by):
        raise PermissionDenied(ONLY_AUTHOR_CHANGES)
    errors = activity_content_errors(
        kind=changes.get("kind", activity.kind), subject=changes.get("subject", activity.subject)
    )
    if errors:
        raise ValidationError(errors)
    for field, value in changes.items():
        setattr(activity, field, value.strip() if field == "subject" else value)
    activity.save(update_fields=list(changes))
    return activity


def activity_delete(*, activity: Activity, by: User) -> None:
    """Delete ``activity``; only its author or an admin may."""
    if not activity_change_allowed(activity=activity, by=by):
        raise PermissionDenied(ONLY_AUTHOR_CHANGES)
    activity.delete()
