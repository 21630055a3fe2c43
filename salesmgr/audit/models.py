"""The audit log's table: one row per security event."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditKind(models.TextChoices):
    SIGNIN = "signin", "Signed in"
    SIGNIN_FAILED = "signin_failed", "Sign-in failed"
    SIGNIN_LOCKED = "signin_locked", "Sign-in locked out"
    SIGNOUT = "signout", "Signed out"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    USER_CREATED = "user_created", "Person added"
    USER_DELETED = "user_deleted", "Person deleted"
    ROLE_CHANGED = "role_changed", "Role changed"
    MANAGER_CHANGED = "manager_changed", "Manager changed"
    USER_DEACTIVATED = "user_deactivated", "Person deactivated"
    USER_REACTIVATED = "user_reactivated", "Person reactivated"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    EXPORT = "export", "Data exported"
    IMPORT_UPLOADED = "import_uploaded", "Import uploaded"
    IMPORT_FINISHED = "import_finished", "Import finished"
    WEBHOOK_CREATED = "webhook_created", "Webhook created"
    WEBHOOK_DELETED = "webhook_deleted", "Webhook deleted"
    WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated", "Webhook secret rotated"
    RESTORE = "restore", "Backup restored"


class AuditEvent(models.Model):
    """Who did what to whom, when, from where, in which request.

    The people are kept by reference and by username, so an event still says
    who it was about after the person is deleted. The references have no
    database constraint: writing an event never locks a person's row, and
    never fails its action at commit.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=32, choices=AuditKind.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        help_text="Who did it (none: someone not signed in, or the system).",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        help_text="The person it was done to, if any.",
    )
    target_username = models.CharField(max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["kind", "-at"], name="audit_kind_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind} {self.actor_username or '-'}"
