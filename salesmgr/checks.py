"""Rules for people and the reporting line: each check returns the errors it finds and writes nothing."""

from collections.abc import Mapping

from salesmgr.models import Role, User
from salesmgr.selectors import team_member_ids_subquery

USERNAME_TAKEN = "A user with that username already exists."
NOT_OWN_MANAGER = "A person cannot be their own manager."
NOT_SELF_DEACTIVATION = "You cannot deactivate yourself."
NOT_SELF_DELETION = "You cannot delete yourself."


def user_create_errors(*, username: str, role: str) -> dict[str, str]:
    """What refuses a new person."""
    errors = {}
    if role not in Role.values:
        errors["role"] = f"Unknown role {role!r}."
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = USERNAME_TAKEN
    return errors


def user_manager_errors(*, user: User, manager: User | None) -> dict[str, str]:
    """What refuses putting ``user`` under ``manager``: a reporting line never loops."""
    if manager is None:
        return {}
    if manager.pk == user.pk:
        return {"manager": NOT_OWN_MANAGER}
    below = User.objects.filter(pk__in=team_member_ids_subquery(user.pk), pk=manager.pk)
    if below.exists():
        return {"manager": f"{manager} reports to {user}; that would make a reporting cycle."}
    return {}


def user_deactivate_errors(*, user: User, by: User) -> dict[str, str]:
    """What refuses deactivating ``user``: nobody locks themselves out."""
    return {"is_active": NOT_SELF_DEACTIVATION} if user.pk == by.pk else {}


def user_delete_errors(*, user: User, by: User) -> dict[str, str]:
    """What refuses deleting ``user``: nobody deletes themselves.

    A person with deals, accounts or activities is protected by the database;
    they are deactivated instead.
    """
    return {"detail": NOT_SELF_DELETION} if user.pk == by.pk else {}


def user_change_errors(*, user: User, by: User, changes: Mapping[str, object]) -> dict[str, str]:
    """What refuses ``changes`` to ``user`` made by ``by``."""
    errors = {}
    if "role" in changes and changes["role"] not in Role.values:
        errors["role"] = f"Unknown role {changes['role']!r}."
    if "username" in changes:
        taken = User.objects.filter(username__iexact=changes["username"]).exclude(pk=user.pk)
        if taken.exists():
            errors["username"] = USERNAME_TAKEN
    if "manager" in changes:
        errors |= user_manager_errors(user=user, manager=changes["manager"])
    if changes.get("is_active") is False:
        errors |= user_deactivate_errors(user=user, by=by)
    return errors
