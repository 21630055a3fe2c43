"""Rules for logging, correcting and deleting activities."""

from pipeline.models import Account, Activity, ActivityKind, Deal
from salesmgr.models import User

ONLY_AUTHOR_CHANGES = "Only the author or an admin may change or delete an activity."


def activity_content_errors(*, kind: str, subject: str) -> dict[str, str]:
    """What is wrong with what an activity says."""
    errors = {}
    if kind not in ActivityKind.values:
        errors["kind"] = (
            f"Unknown activity kind {kind!r}; use one of {', '.join(ActivityKind.values)}."
        )
    if not subject or not subject.strip():
        errors["subject"] = "Give the activity a subject."
    return errors


def activity_log_errors(
    *, kind: str, subject: str, deal: Deal | None, account: Account | None
) -> dict[str, str]:
    """What refuses logging an activity; one on a deal belongs to the deal's account."""
    errors = activity_content_errors(kind=kind, subject=subject)
    if deal is None and account is None:
        errors["deal"] = "An activity belongs to a deal or an account."
    if deal is not None:
        if deal.deleted_at is not None:
            errors["deal"] = "The deal is deleted."
        if account is not None and account.pk != deal.account_id:
            errors["account"] = "The deal belongs to another account."
        account = account or deal.account
    if account is not None and account.deleted_at is not None:
        errors["account"] = "The account is deleted."
    return errors


def activity_change_allowed(*, activity: Activity, by: User) -> bool:
    """Whether ``by`` may correct or delete ``activity``: its author or an admin."""
    return activity.author_id == by.pk or by.is_admin
