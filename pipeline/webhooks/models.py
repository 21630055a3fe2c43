"""Webhook subscriptions and their deliveries; imported by ``pipeline.models``.

A delivery row is written in the same transaction as the change it reports,
so an event survives a broker outage (the outbox); the delivery task and the
periodic sweep send it later.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from salesmgr.sealing import seal, unseal


class WebhookEvent(models.TextChoices):
    DEAL_CREATED = "deal.created", "Deal created"
    DEAL_UPDATED = "deal.updated", "Deal updated"
    DEAL_MOVED = "deal.moved", "Deal moved to another stage"
    DEAL_WON = "deal.won", "Deal won"
    DEAL_LOST = "deal.lost", "Deal lost"
    DEAL_DELETED = "deal.deleted", "Deal deleted"
    ACTIVITY_LOGGED = "activity.logged", "Activity logged"
    ACCOUNT_CREATED = "account.created", "Account created"
    PING = "ping", "Test event"


# What a subscription may ask for; the test event goes to every subscription that asks for it.
SUBSCRIBABLE_EVENTS = tuple(event for event in WebhookEvent.values if event != WebhookEvent.PING)


class WebhookSubscription(models.Model):
    """A URL that receives the events it names, signed with its own secret."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="The event names sent to this URL.")
    # The signing secret, sealed (``salesmgr.sealing``): read and set it through ``secret``.
    secret_sealed = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    # Deliveries given up on in a row; reset by a delivered one and on enabling.
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    @property
    def secret(self) -> str:
        """The signing secret in the clear, opened only when a delivery is signed or shown once."""
        return unseal(self.secret_sealed)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_sealed = seal(value)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its turn, its first attempt or a retry
    SENDING = "sending", "Sending"  # claimed by a worker
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # given up after its last attempt


# The statuses of a delivery that is not finished: a later one of its sequence waits for it.
OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class WebhookDelivery(models.Model):
    """One event for one subscription: the exact body sent, and how each attempt went."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    body = models.TextField()
    # Deliveries of one subscription with the same key ("deal:12") are sent in id order,
    # each after the one before is delivered or given up on; blank: no order to keep.
    sequence_key = models.CharField(max_length=60, blank=True)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # One entry per attempt: {"at", "response_code", "error", "ms"}.
    attempt_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["subscription", "sequence_key", "id"],
                name="webhook_open_sequence_idx",
                condition=Q(status__in=["pending", "sending"]),
            ),
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_pending_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["subscription", "-id"], name="webhook_sub_log_idx"),
            models.Index(fields=["created_at"], name="webhook_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk} -> {self.subscription_id} ({self.status})"
