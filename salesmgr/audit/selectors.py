"""Who reads the audit log: admins, and nobody else."""

from django.db.models import QuerySet

from salesmgr.audit.models import AuditEvent
from salesmgr.models import User


def audit_events_visible_to(user: User) -> QuerySet[AuditEvent]:
    """Every event for an admin, newest first; none for anyone else."""
    events = AuditEvent.objects.order_by("-at", "-id")
    return events if user.is_admin else events.none()
