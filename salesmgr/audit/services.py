"""Writing the audit log: one function every app calls, and the retention purge."""

import datetime
import ipaddress
import json
import logging

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from salesmgr.audit.models import AuditEvent, AuditKind
from salesmgr.log import log_context

logger = logging.getLogger("salesmgr.audit")


def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def audit_record(
    kind: AuditKind, /, *, actor=None, request=None, target=None, **details
) -> AuditEvent | None:
    """Record a security event; never raises, so it never breaks the action it records.

    Call it inside the action's transaction where the action writes: the event
    is written in a savepoint of it and commits or rolls back with the action.
    ``request`` (else the request being served, if any) gives the request id,
    the client's address and, when ``actor`` is not given, the signed-in user.
    ``details`` must be JSON (dates and decimals are written as strings).
    """
    try:
        if kind not in AuditKind.values:  # what the column's choices allow, on every database
            raise ValueError(f"{kind!r} is no kind of audit event")
        context = log_context()
        if request is None and context is not None:
            request = context.request
        request_id = getattr(request, "request_id", None) or (context.request_id if context else "")
        address = context.ip_address if context is not None else None
        if request is not None:
            from salesmgr.services import client_address

            address = client_address(request)
            if actor is None:
                user = getattr(request, "user", None)
                actor = user if getattr(user, "is_authenticated", False) else None
        payload = json.loads(json.dumps(details, cls=DjangoJSONEncoder))
        with transaction.atomic():
            event = AuditEvent.objects.create(
                kind=kind,
                actor=actor,
                actor_username=getattr(actor, "username", "") or "",
                target=target,
                target_username=getattr(target, "username", "") or "",
                ip_address=_address(address),
                request_id=request_id[:128],
                details=payload,
            )
    except Exception:
        logger.exception("The audit event %s could not be recorded.", kind)
        return None
    logger.info(
        "audit %s actor=%s target=%s",
        kind,
        event.actor_username or "-",
        event.target_username or "-",
    )
    return event


def audit_events_purge(now: datetime.datetime | None = None) -> int:
    """Delete the events older than ``AUDIT_RETENTION_DAYS``; returns how many."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.AUDIT_RETENTION_DAYS)
    deleted, _ = AuditEvent.objects.filter(at__lt=cutoff).delete()
    return deleted
