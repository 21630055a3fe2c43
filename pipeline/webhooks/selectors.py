"""Who sees webhooks: admins, and nobody else."""

from django.db.models import QuerySet

from pipeline.webhooks.models import WebhookDelivery, WebhookSubscription
from salesmgr.models import User


def webhook_subscriptions_visible_to(user: User) -> QuerySet[WebhookSubscription]:
    """Every subscription for an admin; none for anyone else."""
    subscriptions = WebhookSubscription.objects.all()
    return subscriptions if user.is_admin else subscriptions.none()


def webhook_deliveries_visible_to(user: User) -> QuerySet[WebhookDelivery]:
    """Every delivery for an admin, newest first; none for anyone else."""
    deliveries = WebhookDelivery.objects.order_by("-id")
    return deliveries if user.is_admin else deliveries.none()
