"""Who may change an account's contacts."""

from pipeline.models import Account
from salesmgr.models import User
from salesmgr.selectors import may_act_for


def contact_write_refusal(*, by: User, account: Account) -> str | None:
    """Why ``by`` may not add, change or remove contacts at ``account``; None when they may.

    Contacts belong to their account's owner: the owner, their manager or an admin.
    """
    if may_act_for(actor=by, owner_id=account.owner_id):
        return None
    return "Only the account's owner, their manager or an admin may change its contacts."
