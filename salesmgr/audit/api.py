"""The audit log in the REST API: read-only, for admins only."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from salesmgr.api.base import ADMINS, ScopedViewSet
from salesmgr.audit.filters import AuditEventFilter
from salesmgr.audit.models import AuditEvent
from salesmgr.audit.selectors import audit_events_visible_to


class AuditEventSerializer(serializers.ModelSerializer):
    details = serializers.JSONField(read_only=True, help_text="What else the event recorded.")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "kind",
            "actor",
            "actor_username",
            "target",
            "target_username",
            "ip_address",
            "request_id",
            "details",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="The audit log, newest first (admins)"),
    retrieve=extend_schema(summary="One audit event (admins)"),
)
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Security events: sign-ins and their failures, role and team changes, exports, imports..."""

    selector = audit_events_visible_to
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    ordering_fields = ["at", "id"]
    ordering = ["-at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": ADMINS, "write": ADMINS}  # no writes: an admin gets 405, others 403
