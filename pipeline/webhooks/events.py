"""What the pipeline's services call to report changes to webhook subscribers.

Each function must run inside the transaction of the change. The payload's
``data`` is the record as the REST API shows it at that moment, read only when
someone subscribed to the event.
"""

from dataclasses import dataclass

from pipeline.webhooks.models import WebhookEvent
from pipeline.webhooks.services import EventRecord, webhook_events_record


@dataclass(frozen=True)
class DealChange:
    deal_id: int
    created: bool = False
    updated: bool = False
    moved_to_kind: str | None = None  # the kind of the stage it entered
    deleted: bool = False

    def events(self) -> list[str]:
        from pipeline.models import StageKind

        events = []
        if self.created:
            events.append(WebhookEvent.DEAL_CREATED)
        if self.updated:
            events.append(WebhookEvent.DEAL_UPDATED)
        if self.moved_to_kind is not None:
            events.append(WebhookEvent.DEAL_MOVED)
            if self.moved_to_kind == StageKind.WON:
                events.append(WebhookEvent.DEAL_WON)
            elif self.moved_to_kind == StageKind.LOST:
                events.append(WebhookEvent.DEAL_LOST)
        if self.deleted:
            events.append(WebhookEvent.DEAL_DELETED)
        return events


def _deals_data(deal_ids: list[int]) -> dict[int, dict]:
    from django.db.models import Prefetch

    from pipeline.api.deals import DealSerializer
    from pipeline.models import Deal, DealLineItem

    deals = (
        Deal.objects.filter(pk__in=deal_ids)
        .select_related("account", "owner", "pipeline", "stage", "lost_reason")
        .prefetch_related(
            Prefetch("line_items", queryset=DealLineItem.objects.select_related("product"))
        )
    )
    return {deal.pk: DealSerializer(deal).data for deal in deals}


def deals_changed_events(changes: list[DealChange]) -> None:
    """Report changes of deals: created, fields updated, moved (and won or lost), or deleted."""
    records = [
        EventRecord(events=events, key=change.deal_id, sequence_key=f"deal:{change.deal_id}")
        for change in changes
        if (events := change.events())
    ]
    if records:
        webhook_events_record(records=records, render=_deals_data)


def deal_events(**change) -> None:
    """Report one deal's change (see ``DealChange``)."""
    deals_changed_events([DealChange(**change)])


def activity_logged(*, activity_id: int, deal_id: int | None, account_id: int | None) -> None:
    """Report a new activity; one on a deal keeps its place among the deal's events."""

    def render(ids: list[int]) -> dict[int, dict]:
        from pipeline.api.accounts import ActivitySerializer
        from pipeline.models import Activity

        activities = Activity.objects.filter(pk__in=ids).select_related("author", "deal", "account")
        return {activity.pk: ActivitySerializer(activity).data for activity in activities}

    key = f"deal:{deal_id}" if deal_id else f"account:{account_id}" if account_id else ""
    record = EventRecord(events=[WebhookEvent.ACTIVITY_LOGGED], key=activity_id, sequence_key=key)
    webhook_events_record(records=[record], render=render)


def account_created(*, account_id: int) -> None:
    """Report a new account."""

    def render(ids: list[int]) -> dict[int, dict]:
        from pipeline.api.accounts import AccountSerializer
        from pipeline.models import Account

        accounts = Account.objects.filter(pk__in=ids).select_related("owner", "territory")
        return {account.pk: AccountSerializer(account).data for account in accounts}

    record = EventRecord(
        events=[WebhookEvent.ACCOUNT_CREATED], key=account_id, sequence_key=f"account:{account_id}"
    )
    webhook_events_record(records=[record], render=render)
