"""Writes to webhooks: subscriptions, the outbox of deliveries, and each delivery's attempts.

An event is recorded by the service that made the change, inside its
transaction: one delivery row per subscription that asks for it, holding the
exact body to send. After commit the delivery task is queued; if the broker is
down the periodic sweep finds the row. Deliveries of one subscription with the
same ``sequence_key`` (one deal) go out one at a time, in the order written.
"""

import datetime
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from pipeline.webhooks import transport
from pipeline.webhooks.checks import ONLY_ADMINS, webhook_subscription_errors
from pipeline.webhooks.models import (
    OPEN_STATUSES,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from pipeline.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    secret_new,
    signature_header,
)
from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.sealing import SealedSecretUnreadable, reseal

logger = logging.getLogger(__name__)

# publish(delivery_id, attempts, countdown_seconds): queue one delivery's next attempt.
Publish = Callable[[int, int, float], object]

SUBSCRIPTION_UPDATABLE_FIELDS = ("name", "url", "events", "is_active")


def _require_admin(by: User) -> None:
    if not by.is_admin:
        raise PermissionDenied(ONLY_ADMINS)


def _raise_if_any(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _events_in_order(events) -> list[str]:
    """The events asked for, once each, in the order of ``WebhookEvent``."""
    chosen = set(events)
    return [event for event in WebhookEvent.values if event in chosen]


def webhook_subscription_create(
    *, by: User, name: str, url: str, events: list[str]
) -> WebhookSubscription:
    """Subscribe ``url`` to ``events`` (admins); the new secret is on the returned row."""
    _require_admin(by)
    _raise_if_any(webhook_subscription_errors(name=name, url=url, events=events))
    now = timezone.now()
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            name=name.strip(),
            url=url,
            events=_events_in_order(events),
            secret=secret_new(),
            created_by=by,
            created_at=now,
            updated_at=now,
        )
        audit_record(
            AuditKind.WEBHOOK_CREATED,
            actor=by,
            webhook=subscription.pk,
            name=subscription.name,
            url=subscription.url,
            events=subscription.events,
        )
    return subscription


def webhook_subscription_update(
    *, subscription: WebhookSubscription, by: User, **changes
) -> WebhookSubscription:
    """Change a subscription's name, URL, events or whether it is active (admins).

    Enabling clears the failure count and the reason it was disabled, and
    queues what waited meanwhile; disabling keeps pending deliveries for later.
    """
    _require_admin(by)
    unknown = set(changes) - set(SUBSCRIPTION_UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError({field: "This field cannot be changed." for field in sorted(unknown)})
    _raise_if_any(
        webhook_subscription_errors(
            name=changes.get("name"), url=changes.get("url"), events=changes.get("events")
        )
    )
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        enabling = changes.get("is_active") is True and not locked.is_active
        if "name" in changes:
            locked.name = changes["name"].strip()
        if "url" in changes:
            locked.url = changes["url"]
        if "events" in changes:
            locked.events = _events_in_order(changes["events"])
        if "is_active" in changes:
            locked.is_active = changes["is_active"]
        if enabling:
            locked.consecutive_failures = 0
            locked.disabled_at = None
            locked.disabled_reason = ""
        elif "is_active" in changes and not locked.is_active and locked.disabled_at is None:
            locked.disabled_at = timezone.now()
            locked.disabled_reason = f"Disabled by {by.display_name}."
        locked.updated_at = timezone.now()
        locked.save()
        if enabling:
            transaction.on_commit(lambda: _sweep_quietly(locked.pk))
    return locked


def webhook_subscription_delete(*, subscription: WebhookSubscription, by: User) -> None:
    """Remove a subscription and its delivery log (admins)."""
    _require_admin(by)
    with transaction.atomic():
        audit_record(
            AuditKind.WEBHOOK_DELETED,
            actor=by,
            webhook=subscription.pk,
            name=subscription.name,
            url=subscription.url,
        )
        subscription.delete()


def webhook_subscription_rotate_secret(
    *, subscription: WebhookSubscription, by: User
) -> WebhookSubscription:
    """Give a subscription a new secret (admins); deliveries from now on are signed with it."""
    _require_admin(by)
    with transaction.atomic():
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        locked.secret = secret_new()
        locked.updated_at = timezone.now()
        locked.save(update_fields=["secret_sealed", "updated_at"])
        audit_record(
            AuditKind.WEBHOOK_SECRET_ROTATED, actor=by, webhook=locked.pk, name=locked.name
        )
    return locked


def webhook_secrets_reseal() -> tuple[int, list[str]]:
    """Seal every stored secret again with the current ``SECRET_KEY`` (after a key rotation).

    Answers how many were resealed and the names of those no configured key opens, left as
    they were (their subscriptions need a new secret). Run by ``manage.py reseal_secrets``.
    """
    resealed, unreadable = 0, []
    with transaction.atomic():
        for subscription in WebhookSubscription.objects.select_for_update().only(
            "id", "name", "secret_sealed"
        ):
            try:
                subscription.secret_sealed = reseal(subscription.secret_sealed)
            except SealedSecretUnreadable:
                unreadable.append(subscription.name)
                continue
            subscription.save(update_fields=["secret_sealed"])
            resealed += 1
    return resealed, unreadable


def _body(*, event_id: uuid.UUID, event: str, at: datetime.datetime, data: dict) -> str:
    envelope = {"id": str(event_id), "event": event, "created_at": at, "data": data}
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"))


@dataclass(frozen=True)
class EventRecord:
    """Events about one record: ``key`` picks its data from ``render``'s answer."""

    events: list[str]
    key: int
    sequence_key: str = ""


def webhook_events_record(
    *, records: list[EventRecord], render: Callable[[list[int]], dict[int, dict]]
) -> list[int]:
    """Write a delivery of each event for every active subscription asking for it.

    Call it inside the transaction of the change: the rows commit or roll back
    with it. ``render`` gives the records' API representations by key and is
    called once, only when someone subscribed. The deliveries are queued after
    commit; answers their ids.
    """
    asked = {event for record in records for event in record.events}
    subscriptions = [
        s
        for s in WebhookSubscription.objects.filter(is_active=True).only("pk", "events")
        if asked & set(s.events)
    ]
    if not subscriptions:
        return []
    wanted = [r for r in records if any(set(r.events) & set(s.events) for s in subscriptions)]
    data = render([r.key for r in wanted])
    now = timezone.now()
    rows = []
    for record in wanted:
        for event in record.events:
            event_id = uuid.uuid4()
            body = _body(event_id=event_id, event=event, at=now, data=data[record.key])
            rows += [
                WebhookDelivery(
                    subscription_id=s.pk,
                    event_id=event_id,
                    event=event,
                    body=body,
                    sequence_key=record.sequence_key,
                    created_at=now,
                    next_attempt_at=now,
                )
                for s in subscriptions
                if event in s.events
            ]
    created = WebhookDelivery.objects.bulk_create(rows)
    ids = [row.pk for row in created]
    if ids:
        transaction.on_commit(lambda: _publish_all(ids))
    return ids


def webhook_test_send(*, subscription: WebhookSubscription, by: User) -> WebhookDelivery:
    """Queue a ``ping`` event to ``subscription`` (admins), whatever events it asks for."""
    _require_admin(by)
    if not subscription.is_active:
        raise ValidationError({"is_active": ["Enable the subscription before testing it."]})
    now = timezone.now()
    event_id = uuid.uuid4()
    data = {
        "subscription": subscription.pk,
        "message": "A test event sent by an admin; nothing changed in Salesmgr.",
        "sent_by": by.pk,
    }
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            subscription=subscription,
            event_id=event_id,
            event=WebhookEvent.PING,
            body=_body(event_id=event_id, event=WebhookEvent.PING, at=now, data=data),
            created_at=now,
            next_attempt_at=now,
        )
        transaction.on_commit(lambda: _publish_all([delivery.pk]))
    return delivery


def webhook_redeliver(*, delivery: WebhookDelivery, by: User) -> WebhookDelivery:
    """Send a finished delivery's event again as a new delivery (admins); same event id and body.

    It takes its place at the end of its deal's sequence.
    """
    _require_admin(by)
    if delivery.status in OPEN_STATUSES:
        raise ValidationError({"status": ["This delivery is still being tried."]})
    if not delivery.subscription.is_active:
        raise ValidationError({"subscription": ["Enable the subscription before redelivering."]})
    now = timezone.now()
    with transaction.atomic():
        again = WebhookDelivery.objects.create(
            subscription_id=delivery.subscription_id,
            event_id=delivery.event_id,
            event=delivery.event,
            body=delivery.body,
            sequence_key=delivery.sequence_key,
            created_at=now,
            next_attempt_at=now,
            redelivery_of=delivery,
        )
        transaction.on_commit(lambda: _publish_all([again.pk]))
    return again


def webhook_backoff_seconds(attempts: int) -> float:
    """How long to wait after the ``attempts``-th failed attempt: doubling, capped, with jitter."""
    base = settings.WEBHOOKS_BACKOFF_BASE_MS / 1000 * 2 ** (attempts - 1)
    return min(base, settings.WEBHOOKS_BACKOFF_MAX_SECONDS) * random.uniform(1.0, 1.25)  # noqa: S311


def _earlier_open(delivery_id, subscription_id, sequence_key):
    """The unfinished deliveries that must go before a delivery (none without a sequence)."""
    return WebhookDelivery.objects.filter(
        subscription_id=subscription_id,
        sequence_key=sequence_key,
        status__in=OPEN_STATUSES,
        pk__lt=delivery_id,
    ).exclude(sequence_key="")


def webhook_delivery_attempt(
    *, delivery_id: int, attempts: int | None = None, publish: Publish | None = None
) -> str:
    """Try to send one delivery now, if it is due and first in its sequence; what happened.

    ``attempts`` is the count the caller saw when queueing: a message for an
    attempt already made is stale and does nothing. Answers ``delivered``,
    ``retry``, ``failed``, or why nothing was sent (``gone``, ``stale``,
    ``early``, ``disabled``, ``waiting``). The follow-up (a retry, or the next
    delivery of the sequence) is queued through ``publish`` after commit.
    """
    publish = publish or _publish
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("subscription")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "gone"
        if delivery.status != DeliveryStatus.PENDING or (
            attempts is not None and attempts != delivery.attempts
        ):
            return "stale"
        if delivery.next_attempt_at > now:
            wait = (delivery.next_attempt_at - now).total_seconds()
            transaction.on_commit(lambda: publish(delivery.pk, delivery.attempts, wait))
            return "early"
        if not delivery.subscription.is_active:
            return "disabled"
        if _earlier_open(delivery.pk, delivery.subscription_id, delivery.sequence_key).exists():
            return "waiting"  # the one before queues this one when it finishes
        claim = now
        delivery.status = DeliveryStatus.SENDING
        delivery.claimed_at = claim
        delivery.save(update_fields=["status", "claimed_at"])
    subscription = delivery.subscription
    body = delivery.body.encode()
    try:
        secret = subscription.secret
    except SealedSecretUnreadable as error:
        # Nothing is sent unsigned: the attempt fails with the reason, as a refused one would.
        outcome = transport.Outcome(None, str(error)[:300], 0)
    else:
        outcome = transport.post(
            url=subscription.url,
            body=body,
            headers={
                SIGNATURE_HEADER: signature_header(
                    secret=secret, timestamp=int(timezone.now().timestamp()), body=body
                ),
                EVENT_HEADER: delivery.event,
                DELIVERY_HEADER: str(delivery.pk),
            },
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS,
        )
    return _finish(delivery_id=delivery.pk, claim=claim, outcome=outcome, publish=publish)


def _finish(
    *, delivery_id: int, claim: datetime.datetime, outcome: transport.Outcome, publish: Publish
) -> str:
    """Record an attempt's outcome on the delivery (if still ours) and on its subscription."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=delivery_id, status=DeliveryStatus.SENDING, claimed_at=claim)
            .first()
        )
        if delivery is None:
            return "stale"  # the sweep took the claim back, or the row went
        delivery.attempts += 1
        delivery.response_code = outcome.response_code
        delivery.last_error = outcome.error or (
            "" if outcome.ok else f"The receiver answered HTTP {outcome.response_code}."
        )
        delivery.attempt_log = [
            *delivery.attempt_log,
            {
                "at": now.isoformat(),
                "response_code": outcome.response_code,
                "error": outcome.error,
                "ms": outcome.ms,
            },
        ]
        delivery.claimed_at = None
        subscriptions = WebhookSubscription.objects.filter(pk=delivery.subscription_id)
        if outcome.ok:
            result = "delivered"
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            subscriptions.filter(consecutive_failures__gt=0).update(consecutive_failures=0)
        elif delivery.attempts < settings.WEBHOOKS_MAX_ATTEMPTS:
            result = "retry"
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = now + datetime.timedelta(
                seconds=webhook_backoff_seconds(delivery.attempts)
            )
        else:
            result = "failed"
            delivery.status = DeliveryStatus.FAILED
            _count_failure(delivery, now)
        delivery.save()
        if result == "retry":
            wait = (delivery.next_attempt_at - now).total_seconds()
            transaction.on_commit(lambda: publish(delivery.pk, delivery.attempts, wait))
        elif delivery.sequence_key:
            following = (
                WebhookDelivery.objects.filter(
                    subscription_id=delivery.subscription_id,
                    sequence_key=delivery.sequence_key,
                    status=DeliveryStatus.PENDING,
                    pk__gt=delivery.pk,
                )
                .order_by("pk")
                .values_list("pk", "attempts", "next_attempt_at")
                .first()
            )
            if following is not None:
                pk, attempts, due = following
                wait = max(0.0, (due - now).total_seconds())
                transaction.on_commit(lambda: publish(pk, attempts, wait))
    return result


def _count_failure(delivery: WebhookDelivery, now: datetime.datetime) -> None:
    """One more delivery given up on; enough in a row disables the subscription, saying why."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
    subscription.consecutive_failures = F("consecutive_failures") + 1
    subscription.save(update_fields=["consecutive_failures"])
    subscription.refresh_from_db(fields=["consecutive_failures"])
    limit = settings.WEBHOOKS_DISABLE_AFTER_FAILURES
    if subscription.is_active and subscription.consecutive_failures >= limit:
        subscription.is_active = False
        subscription.disabled_at = now
        subscription.disabled_reason = (
            f"Disabled automatically after {subscription.consecutive_failures} deliveries in a "
            f"row failed, each after {delivery.attempts} attempt(s); the last: "
            f"{delivery.last_error}"
        )[:300]
        subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason"])


def webhooks_sweep(
    *, subscription_id: int | None = None, publish: Publish | None = None
) -> list[int]:
    """Queue every due delivery that is first in its sequence; take back claims of dead workers.

    A claim older than a few request timeouts belongs to a worker that died
    mid-request: its delivery is pending again (the receiver may see it twice,
    which the event id lets it notice). Finished deliveries older than
    ``WEBHOOKS_LOG_KEEP_DAYS`` leave the log. Answers the ids queued.
    """
    publish = publish or _publish
    now = timezone.now()
    stale = now - datetime.timedelta(seconds=3 * settings.WEBHOOKS_TIMEOUT_SECONDS + 60)
    open_deliveries = WebhookDelivery.objects.all()
    if subscription_id is not None:
        open_deliveries = open_deliveries.filter(subscription_id=subscription_id)
    open_deliveries.filter(status=DeliveryStatus.SENDING, claimed_at__lt=stale).update(
        status=DeliveryStatus.PENDING, claimed_at=None
    )
    if subscription_id is None:
        kept_from = now - datetime.timedelta(days=settings.WEBHOOKS_LOG_KEEP_DAYS)
        WebhookDelivery.objects.filter(
            status__in=(DeliveryStatus.DELIVERED, DeliveryStatus.FAILED), created_at__lt=kept_from
        ).delete()
    earlier = _earlier_open(OuterRef("pk"), OuterRef("subscription_id"), OuterRef("sequence_key"))
    due = list(
        open_deliveries.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now,
            subscription__is_active=True,
        )
        .filter(~Exists(earlier))
        .order_by("pk")
        .values_list("pk", "attempts")[:1000]
    )
    for pk, attempts in due:
        publish(pk, attempts, 0)
    return [pk for pk, _ in due]


def _sweep_quietly(subscription_id: int) -> None:
    """Queue what waited for a subscription just enabled; the periodic sweep follows up on a failure."""
    try:
        webhooks_sweep(subscription_id=subscription_id)
    except Exception:
        logger.exception("waiting deliveries of webhook %s not queued", subscription_id)


def _publish(delivery_id: int, attempts: int, countdown: float) -> None:
    from pipeline.webhooks.tasks import webhook_publish

    webhook_publish(delivery_id, attempts, countdown)


def _publish_all(ids: list[int]) -> None:
    """Queue new deliveries; a failure here never reaches the write that recorded them (the sweep follows up)."""
    try:
        for pk in ids:
            _publish(pk, 0, 0)
    except Exception:
        logger.exception("webhook deliveries %s not queued; the sweep will send them", ids)
