"""Who may delete deals and accounts, and who may bring them back from the recycle bin."""

from salesmgr.models import User
from salesmgr.selectors import may_act_for


def delete_refusal(*, by: User, owner_id: int) -> str | None:
    """Why ``by`` may not delete a record owned by ``owner_id``; None when they may."""
    if may_act_for(actor=by, owner_id=owner_id):
        return None
    return "Only the owner, their manager or an admin may delete this."


def restore_refusal(*, by: User) -> str | None:
    """Why ``by`` may not restore deleted deals and accounts; None when they may.

    Restoring puts figures back into everyone's reports, so it is an admin's
    call, as in the API.
    """
    if by.is_admin:
        return None
    return "Only admins may restore deleted deals and accounts."
