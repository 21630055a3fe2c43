"""Writes to people, the reporting line and sign-in."""

import datetime
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.checks import (
    user_change_errors,
    user_create_errors,
    user_deactivate_errors,
    user_delete_errors,
    user_manager_errors,
)
from salesmgr.models import IdempotencyKey, Role, SignInThrottle, User

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
    password_hash: str | None = None,
) -> User:
    """Create a person; an admin role also grants the Django admin.

    ``password_hash`` (from ``make_password``) stands for ``password`` when many
    people share one, so it is hashed once (the demo's crowd of reps).
    """
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
    if password_hash:
        user.password = password_hash
    elif password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    with transaction.atomic():
        user.save()
        audit_record(
            AuditKind.USER_CREATED,
            target=user,
            role=user.role,
            manager=user.manager.username if user.manager else None,
        )
    return user


def user_set_manager(*, user: User, manager: User | None, by: User | None = None) -> User:
    """Put ``user`` under ``manager``; refuses anything that would make a cycle.

    The reporting line is locked while it is checked, so two concurrent changes
    cannot together close a loop. ``by`` (for the audit log) defaults to the
    signed-in user of the request being served.
    """
    with transaction.atomic():
        if manager is not None and manager.pk != user.pk:
            # Lock both rows so a concurrent reassignment waits for this check.
            list(User.objects.select_for_update().filter(pk__in=[user.pk, manager.pk]))
        _refuse(user_manager_errors(user=user, manager=manager))
        before = User.objects.filter(pk=user.pk).values_list("manager__username", flat=True).first()
        user.manager = manager
        user.save(update_fields=["manager"])
        after = manager.username if manager is not None else None
        if before != after:
            audit_record(AuditKind.MANAGER_CHANGED, actor=by, target=user, old=before, new=after)
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
            user_set_manager(user=user, manager=changes.pop("manager"), by=by)
        # From the table: the admin's form has already set its values on ``user``.
        before = User.objects.filter(pk=user.pk).values("role", "is_active", "is_superuser").first()
        for field, value in changes.items():
            setattr(user, field, value)
        if password:
            user.set_password(password)
        _grant_staff_by_role(user)
        user.save()
        if password or changes.get("is_active") is False:
            user_sign_out_everywhere(user=user)
        if before is not None:
            _audit_user_changes(user=user, by=by, before=before, password_changed=bool(password))
    return user


def _audit_user_changes(*, user: User, by: User, before: dict, password_changed: bool) -> None:
    """Record the changes to ``user`` that the audit log keeps: role, access, password."""
    for field in ("role", "is_superuser"):
        if before[field] != getattr(user, field):
            audit_record(
                AuditKind.ROLE_CHANGED,
                actor=by,
                target=user,
                field=field,
                old=before[field],
                new=getattr(user, field),
            )
    if before["is_active"] != user.is_active:
        kind = AuditKind.USER_REACTIVATED if user.is_active else AuditKind.USER_DEACTIVATED
        audit_record(kind, actor=by, target=user)
    if password_changed:
        audit_record(AuditKind.PASSWORD_CHANGED, actor=by, target=user)


def user_set_password(*, user: User, password: str | None, by: User | None = None) -> User:
    """Set ``user``'s password (``None``: no password sign-in at all) and sign them out everywhere.

    ``by`` None: the signed-in user of the request being served, as the audit log records.
    """
    with transaction.atomic():
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(update_fields=["password"])
        user_sign_out_everywhere(user=user)
        audit_record(AuditKind.PASSWORD_CHANGED, actor=by, target=user, usable=bool(password))
    return user


def user_sign_out_everywhere(*, user: User) -> None:
    """End every sign-in of ``user`` after a password change or a deactivation.

    Their API token is deleted. Their browser sessions, wherever stored, end on
    their next request by themselves: every request reloads the person and drops
    the session when they are inactive or when the password it was signed in
    with has changed (Django's session auth hash).
    """
    Token.objects.filter(user=user).delete()


def user_deactivate(*, user: User, by: User) -> User:
    """Stop ``user`` signing in (their sessions and API token stop working at once); the person stays."""
    _refuse(user_deactivate_errors(user=user, by=by))
    with transaction.atomic():
        was_active = user.is_active
        user.is_active = False
        user.save(update_fields=["is_active"])
        user_sign_out_everywhere(user=user)
        if was_active:
            audit_record(AuditKind.USER_DEACTIVATED, actor=by, target=user)
    return user


def user_delete(*, user: User, by: User) -> None:
    """Delete a person created by mistake; anyone with records is deactivated instead."""
    _refuse(user_delete_errors(user=user, by=by))
    with transaction.atomic():
        audit_record(AuditKind.USER_DELETED, actor=by, target=user, username=user.username)
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
    with transaction.atomic():
        deleted, _ = Token.objects.filter(user=user).delete()
        if deleted:
            audit_record(AuditKind.TOKEN_REVOKED, actor=user, target=user)


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


# Signing in.
# The sign-in throttle shared by the sign-in page and the API's token endpoint.
#
# Failed sign-ins are counted per account and per client address in a window
# (``SIGNIN_WINDOW_SECONDS``, from the first failure). Past the limit for
# either, every attempt is refused until the window ends, the right password
# too, with a message that says when to try again.
#
# Each attempt is counted *before* its password is checked, in one atomic
# upsert, and handed back when the password was right: twenty guesses sent at
# once reach the password check only as often as the limit allows. The counts
# live in the database, so every web process shares them with or without Redis.


class SignInLocked(Exception):
    """Too many failed sign-ins: refused until ``retry_at``."""

    def __init__(self, retry_at: datetime.datetime, now: datetime.datetime):
        self.retry_at = retry_at
        self.wait_seconds = max(1, int((retry_at - now).total_seconds() + 0.999))
        minutes = -(-self.wait_seconds // 60)
        at = timezone.localtime(retry_at).strftime("%H:%M")
        super().__init__(
            f"Too many failed sign-ins. Try again after {at} "
            f"(in {minutes} minute{'s' if minutes != 1 else ''})."
        )


@dataclass(frozen=True)
class Attempt:
    """The counts one attempt took; ``signin_succeeded`` gives them back."""

    keys: tuple[str, ...]


def client_address(request) -> str:
    """The client's address; X-Forwarded-For only when ``NUM_PROXIES`` says how many proxies stand in front."""
    if api_settings.NUM_PROXIES is None:
        return request.META.get("REMOTE_ADDR", "")
    return BaseThrottle().get_ident(request)


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:40]
    return f"{kind}:{digest}"


def _count(key: str, now: datetime.datetime, window_ends_at: datetime.datetime) -> int:
    """Add one failure to ``key`` (a new window if the last one ended) and return the count."""
    table = connection.ops.quote_name(SignInThrottle._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} ("key", failures, window_ends_at) VALUES (%s, 1, %s)
            ON CONFLICT ("key") DO UPDATE SET
                failures = CASE WHEN {table}.window_ends_at <= %s THEN 1
                                ELSE {table}.failures + 1 END,
                window_ends_at = CASE WHEN {table}.window_ends_at <= %s THEN excluded.window_ends_at
                                      ELSE {table}.window_ends_at END
            RETURNING failures
            """,
            [key, adapt(window_ends_at), adapt(now), adapt(now)],
        )
        return cursor.fetchone()[0]


def signin_attempt(*, username: str, address: str, now: datetime.datetime | None = None) -> Attempt:
    """Count a sign-in attempt against its account and its address; raises ``SignInLocked`` past a limit."""
    now = now or timezone.now()
    window_ends_at = now + datetime.timedelta(seconds=settings.SIGNIN_WINDOW_SECONDS)
    limits = {
        _key("account", username): settings.SIGNIN_FAILURES_PER_ACCOUNT,
        _key("address", address): settings.SIGNIN_FAILURES_PER_ADDRESS,
    }
    counts = {key: _count(key, now, window_ends_at) for key in limits}
    over = [key for key, limit in limits.items() if counts[key] > limit]
    if over:
        ends = SignInThrottle.objects.filter(key__in=over).values_list("window_ends_at", flat=True)
        locked = SignInLocked(max(ends), now)
        # Once per window: the attempt that first went past a limit.
        just_locked = [key.split(":")[0] for key in over if counts[key] == limits[key] + 1]
        if just_locked:
            audit_record(
                AuditKind.SIGNIN_LOCKED,
                target=User.objects.filter(username=username).first(),
                username=username[:150],
                address=address,
                by=just_locked,
                retry_at=locked.retry_at,
            )
        raise locked
    return Attempt(keys=tuple(limits))


def signin_succeeded(attempt: Attempt) -> None:
    """The password was right: the attempt is not a failure."""
    SignInThrottle.objects.filter(key__in=attempt.keys, failures__gt=0).update(
        failures=F("failures") - 1
    )


def signin_throttles_purge(now: datetime.datetime | None = None) -> int:
    """Forget windows that have ended; returns how many."""
    deleted, _ = SignInThrottle.objects.filter(window_ends_at__lte=now or timezone.now()).delete()
    return deleted
