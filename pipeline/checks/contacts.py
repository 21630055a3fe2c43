"""Who may change an account's contacts, the fields a write sets, and where a contact may be."""

from collections.abc import Iterable

from pipeline.checks.deals import Errors
from pipeline.models import Account
from salesmgr.models import User
from salesmgr.selectors import may_act_for

CONTACT_FIELDS = ("first_name", "last_name", "title", "email", "phone")


def contact_write_refusal(*, by: User, account: Account) -> str | None:
    """Why ``by`` may not add, change or remove contacts at ``account``; None when they may.

    Contacts belong to their account's owner: the owner, their manager or an admin.
    """
    if may_act_for(actor=by, owner_id=account.owner_id):
        return None
    return "Only the account's owner, their manager or an admin may change its contacts."


def contact_field_errors(*, fields: Iterable[str], creating: bool) -> Errors:
    """Which of ``fields`` a contact write may not set: it sets only ``CONTACT_FIELDS``
    (and, at creation, the ``external_id`` an import gives)."""
    message = "Unknown contact field." if creating else "This field cannot be changed here."
    allowed = {*CONTACT_FIELDS, "external_id"} if creating else set(CONTACT_FIELDS)
    return {field: [message] for field in sorted(set(fields) - allowed)}


CONTACT_EXTERNAL_ID_TAKEN = "Another contact at this account already has this external id."


def contact_external_id_errors(*, taken: bool) -> Errors:
    """A contact's external id is unique among its account's contacts (whoever may change an
    account's contacts sees them all, so the answer reveals nothing outside their scope)."""
    return {"external_id": [CONTACT_EXTERNAL_ID_TAKEN]} if taken else {}


def contact_account_errors(*, account: Account) -> Errors:
    """A contact is added to, or moved to, an account that is not deleted."""
    if account.deleted_at is None:
        return {}
    return {"account": [f"Account {account.name!r} is deleted."]}
