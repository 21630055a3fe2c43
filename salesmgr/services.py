"""Writes to people and the reporting line."""

from django.core.exceptions import ValidationError
from django.db import transaction

from salesmgr.models import Role, User
from salesmgr.selectors import team_member_ids_subquery


def user_create(
    *,
    username: str,
    password: str | None,
    role: str = Role.REP,
    full_name: str = "",
    email: str = "",
    manager: User | None = None,
) -> User:
    """Create a person; an admin role also grants the Django admin."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "A user with that username already exists."})
    user = User(
        username=username,
        role=role,
        full_name=full_name,
        email=email,
        manager=manager,
        is_staff=role == Role.ADMIN,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user


def user_set_manager(*, user: User, manager: User | None) -> User:
    """Put ``user`` under ``manager``; refuses anything that would make a cycle.

    The reporting line is locked while it is checked, so two concurrent changes
    cannot together close a loop.
    """
    with transaction.atomic():
        if manager is not None:
            if manager.pk == user.pk:
                raise ValidationError({"manager": "A person cannot be their own manager."})
            # Lock both rows so a concurrent reassignment waits for this check.
            list(User.objects.select_for_update().filter(pk__in=[user.pk, manager.pk]))
            below = User.objects.filter(pk__in=team_member_ids_subquery(user.pk), pk=manager.pk)
            if below.exists():
                raise ValidationError(
                    {"manager": f"{manager} reports to {user}; that would make a reporting cycle."}
                )
        user.manager = manager
        user.save(update_fields=["manager"])
    return user
