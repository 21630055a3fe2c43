"""People and the reporting line."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q


class Role(models.TextChoices):
    REP = "rep", "Rep"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


def display_name_of(full_name: str, first_name: str, last_name: str, username: str) -> str:
    """How a person is named on screen (``User.display_name``), from their name fields read as
    values: the full name, else first and last name, else the username."""
    return full_name or f"{first_name} {last_name}".strip() or username


class User(AbstractUser):
    """A person who signs in: a rep, a manager or an admin.

    ``manager`` is the reporting line; it never forms a cycle (see
    ``salesmgr.services.user_set_manager``).
    """

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP, db_index=True)
    full_name = models.CharField(max_length=150, blank=True)
    manager = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        help_text="Who this person reports to.",
    )

    objects = UserManager()

    class Meta:
        ordering = ["full_name", "username"]
        constraints = [
            models.CheckConstraint(condition=~Q(manager=F("pk")), name="user_not_own_manager"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return display_name_of(self.full_name, self.first_name, self.last_name, self.username)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_rep(self) -> bool:
        return self.role == Role.REP and not self.is_superuser


class IdempotencyKey(models.Model):
    """The first answer to a create sent with an ``Idempotency-Key`` header.

    A retry with the same key and the same request gets this answer again
    instead of creating a second record.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class SignInThrottle(models.Model):
    """Failed sign-ins in the current window, per account or per client address.

    Kept in the database so that every web process shares one count whether
    or not Redis runs; ``salesmgr.services`` counts an attempt before checking
    its password, so concurrent guesses cannot all slip under the limit.
    """

    key = models.CharField(max_length=80, primary_key=True)
    failures = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures} until {self.window_ends_at:%Y-%m-%d %H:%M}"


# The audit log keeps its table in its own module of this app.
from salesmgr.audit.models import AuditEvent, AuditKind  # noqa: E402, F401
