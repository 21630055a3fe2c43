"""What the pipeline's services call to report a change to webhook subscribers.

Each function must run inside the transaction of the change. The payload's
``data`` is the record as the REST API shows it at that moment, read only when
someone subscribed to the event.
"""

from pipeline.webhooks.models import WebhookEvent
from pipeline.webhooks.services import webhook_events_record


def _deal_data(deal_id: int) -> dict:
    from django.db.models import Prefetch

    from pipeline.api.deals import DealSerializer
    from pipeline.models import Deal, DealLineItem

    deal = (
        Deal.objects.select_related("account", "owner", "pipeline", "stage", "lost_reason")
        .prefetch_related(
            Prefetch("line_items", queryset=DealLineItem.objects.select_related("product"))
        )
        .get(pk=deal_id)
    )
    return DealSerializer(deal).data


def deal_events(
    *,
    deal_id: int,
    created: bool = False,
    updated: bool = False,
    moved_to_kind: str | None = None,
    deleted: bool = False,
) -> None:
    """Report a deal's change: created, fields updated, moved (and won or lost), or deleted."""
    from pipeline.models import StageKind

    events = []
    if created:
        events.append(WebhookEvent.DEAL_CREATED)
    if updated:
        events.append(WebhookEvent.DEAL_UPDATED)
    if moved_to_kind is not None:
        events.append(WebhookEvent.DEAL_MOVED)
        if moved_to_kind == StageKind.WON:
            events.append(WebhookEvent.DEAL_WON)
        elif moved_to_kind == StageKind.LOST:
            events.append(WebhookEvent.DEAL_LOST)
    if deleted:
        events.append(WebhookEvent.DEAL_DELETED)
    if events:
        webhook_events_record(
            events=events, render=lambda: _deal_data(deal_id), sequence_key=f"deal:{deal_id}"
        )


def activity_logged(*, activity_id: int, deal_id: int | None, account_id: int | None) -> None:
    """Report a new activity; one on a deal keeps its place among the deal's events."""
    from pipeline.api.accounts import ActivitySerializer
    from pipeline.models import Activity

    def render() -> dict:
        activity = Activity.objects.select_related("author", "deal", "account").get(pk=activity_id)
        return ActivitySerializer(activity).data

    key = f"deal:{deal_id}" if deal_id else f"account:{account_id}" if account_id else ""
    webhook_events_record(events=[WebhookEvent.ACTIVITY_LOGGED], render=render, sequence_key=key)


def account_created(*, account_id: int) -> None:
    """Report a new account."""
    from pipeline.api.accounts import AccountSerializer
    from pipeline.models import Account

    def render() -> dict:
        return AccountSerializer(
            Account.objects.select_related("owner", "territory").get(pk=account_id)
        ).data

    webhook_events_record(
        events=[WebhookEvent.ACCOUNT_CREATED], render=render, sequence_key=f"account:{account_id}"
    )
