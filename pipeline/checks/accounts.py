"""The rules an account keeps: the fields a write sets, and who may be given it.

The field and owner checks return ``{field: [message, ...]}``, empty when the
write is allowed; who may give an account to whom is a refusal, answered as
a permission error.
"""

from collections.abc import Iterable

from pipeline.checks.deals import Errors, owner_errors
from pipeline.checks.territories import country_errors
from pipeline.models import Account
from salesmgr.models import User
from salesmgr.selectors import may_act_for

ACCOUNT_FIELDS = (
    "name",
    "territory",
    "territory_pinned",
    "industry",
    "region",
    "employee_count",
    "country",
    "postcode",
    "annual_revenue",
    "website",
)


def account_field_errors(*, fields: Iterable[str], creating: bool) -> Errors:
    """Which of ``fields`` an account write may not set: it sets only ``ACCOUNT_FIELDS``."""
    message = "Unknown account field." if creating else "This field cannot be changed here."
    return {field: [message] for field in sorted(set(fields) - set(ACCOUNT_FIELDS))}


ACCOUNT_EXTERNAL_ID_TAKEN = "Another of this owner's accounts already has this external id."


def account_external_id_errors(*, taken: bool) -> Errors:
    """An account's external id is unique among its owner's live accounts (asked only about
    owners the caller may act for, so the answer reveals nothing outside their scope)."""
    return {"external_id": [ACCOUNT_EXTERNAL_ID_TAKEN]} if taken else {}


def account_values_errors(*, values: dict) -> Errors:
    """The values the assignment rules read: a known country code, a revenue that is not negative."""
    errors: Errors = {}
    if "country" in values and (found := country_errors(values["country"] or "")):
        errors["country"] = found
    revenue = values.get("annual_revenue")
    if revenue is not None and revenue < 0:
        errors["annual_revenue"] = ["Cannot be negative."]
    return errors


def account_owner_refusal(*, by: User, owner: User, account: Account | None = None) -> str | None:
    """Why ``by`` may not give ``owner`` a new account, or ``account``; None when they may.

    Keeping an account's owner needs no right; reps never change it.
    """
    if account is None:
        if may_act_for(actor=by, owner_id=owner.pk):
            return None
        return "You cannot create accounts for that person."
    if owner.pk == account.owner_id:
        return None
    if by.is_rep:
        return "Reps cannot change an account's owner."
    if not may_act_for(actor=by, owner_id=owner.pk):
        return "You can only give accounts to people in your team."
    return None


def account_owner_errors(*, owner_active: bool) -> Errors:
    """A new account, or one changing hands, goes to someone who can still sign in, as a deal does.

    An account whose owner was deactivated keeps them until it is given to someone else.
    """
    return owner_errors(owner_active=owner_active)
