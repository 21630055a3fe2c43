"""Writes to people, the reporting line and sign-in."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token

from salesmgr.checks import (
    user_change_errors,
    user_create_errors,
    user_deactivate_errors,
    user_delete_errors,
    user_manager_errors,
)
from salesmgr.models import IdempotencyKey, Role, User

USER_UPDATABLE_FIELDS = (
    "username",
    "full_name",
    "email",
    "role",
    "manager",
    "is_active",
    "is_superuser",
)


def user_create(
    *,
    username: str,
    password: str | None,
    role: str = Role.REP,
    full_name: str = "",
    email: str = "",
    manager: User | None = None,
    is_active: bool = True,
) -> User:
    """Create a person; an admin role also grants the Django admin."""
    _refuse(user_create_errors(username=username, role=role))
    user = User(
        username=username,
        role=role,
        full_name=full_name,
        email=email,
        manager=manager,
        is_active=is_active,
    )
    _grant_staff_by_role(user)
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
        if manager is not None and manager.pk != user.pk:
            # Lock both rows so a concurrent reassignment waits for this check.
            list(User.objects.select_for_update().filter(pk__in=[user.pk, manager.pk]))
        _refuse(user_manager_errors(user=user, manager=manager))
        user.manager = manager
        user.save(update_fields=["manager"])
    return user


def user_update(*, user: User, by: User, password: str | None = None, **changes) -> User:
    """Change a person's details, role, manager, whether they may sign in, or password.

    Staff access follows the role; nobody deactivates themselves.
    """
    unknown = set(changes) - set(USER_UPDATABLE_FIELDS)
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        _refuse(user_change_errors(user=user, by=by, changes=changes))
        if "manager" in changes:
            user_set_manager(user=user, manager=changes.pop("manager"))
        for field, value in changes.items():
            setattr(user, field, value)
        if password:
            user.set_password(password)
        _grant_staff_by_role(user)
        user.save()
    return user


def user_deactivate(*, user: User, by: User) -> User:
    """Stop ``user`` signing in (their API tokens stop working at once); the person stays."""
    _refuse(user_deactivate_errors(user=user, by=by))
    user.is_active = False
    user.save(update_fields=["is_active"])
    return user


def user_delete(*, user: User, by: User) -> None:
    """Delete a person created by mistake; anyone with records is deactivated instead."""
    _refuse(user_delete_errors(user=user, by=by))
    user.delete()


def scheduled_job_set_enabled(*, job: PeriodicTask, enabled: bool, by: User) -> PeriodicTask:
    """Pause or resume a standing job; the scheduler picks the change up on its next tick."""
    job.enabled = enabled
    job.save(update_fields=["enabled", "last_run_at"])
    return job


def token_issue(*, user: User) -> Token:
    """The person's API token, created on first sign-in."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def token_revoke(*, user: User) -> None:
    """Revoke the person's API token; the next sign-in issues a new one."""
    Token.objects.filter(user=user).delete()


def idempotency_key_claim(
    *, user: User, key: str, path: str, request_hash: str
) -> tuple[IdempotencyKey, bool]:
    """Claim ``key`` for a create, locked until the caller's transaction ends; ``True`` if new."""
    return IdempotencyKey.objects.select_for_update().get_or_create(
        user=user, key=key, defaults={"path": path[:255], "request_hash": request_hash}
    )


def idempotency_key_answer(*, record: IdempotencyKey, status_code: int, body) -> None:
    """Keep the first answer to a claimed key, for a retry to replay."""
    record.status_code = status_code
    record.response_body = body
    record.save(update_fields=["status_code", "response_body"])


def _grant_staff_by_role(user: User) -> None:
    """Staff access (the Django admin) follows the role: admins and superusers, nobody else."""
    user.is_staff = user.is_admin


def _refuse(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)
