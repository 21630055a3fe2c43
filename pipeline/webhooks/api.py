"""Webhooks in the REST API, for admins only: subscriptions, their delivery log, tests and redeliveries.

A subscription's secret is answered once, when it is created or rotated, and
never in a list or a read.
"""

import json

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from pipeline.webhooks.models import (
    SUBSCRIBABLE_EVENTS,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from pipeline.webhooks.selectors import (
    webhook_deliveries_visible_to,
    webhook_subscriptions_visible_to,
)
from pipeline.webhooks.services import (
    webhook_redeliver,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_rotate_secret,
    webhook_subscription_update,
    webhook_test_send,
)
from salesmgr.api.base import ADMINS, IdFilter, ScopedViewSet


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=120)
    url = serializers.CharField(
        max_length=500, help_text="An http:// or https:// URL that answers POST requests."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS),
        allow_empty=False,
        help_text="The events sent to the URL.",
    )
    is_active = serializers.BooleanField(
        required=False,
        help_text="Off: nothing is sent (pending deliveries wait). Turning it on clears the failures.",
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_by",
            "created_at",
            "updated_at",
        ]


class WebhookSubscriptionWithSecretSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Signs every delivery. Shown only now: keep it; rotate it if it is lost.",
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    subscription_name = serializers.CharField(source="subscription.name", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "subscription_name",
            "event",
            "event_id",
            "status",
            "attempts",
            "response_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "redelivery_of",
        ]
        read_only_fields = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    payload = serializers.SerializerMethodField()

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "attempt_log", "payload"]
        read_only_fields = fields

    @extend_schema_field(serializers.JSONField())
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        return json.loads(delivery.body)


class WebhookDeliveryFilter(django_filters.FilterSet):
    subscription = IdFilter(field_name="subscription_id")
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    event = django_filters.ChoiceFilter(choices=WebhookEvent.choices)

    class Meta:
        model = WebhookDelivery
        fields = []


ADMIN_RULES = {
    "read": ADMINS,
    "write": ADMINS,
    "rotate_secret": ADMINS,
    "test": ADMINS,
    "redeliver": ADMINS,
}


@extend_schema_view(
    create=extend_schema(
        summary="Subscribe a URL to events (admins); the answer holds the secret, shown once",
        responses={201: WebhookSubscriptionWithSecretSerializer},
    ),
    destroy=extend_schema(
        summary="Remove a subscription and its delivery log", responses={204: None}
    ),
)
class WebhookSubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """The URLs that receive signed events (admins only)."""

    selector = webhook_subscriptions_visible_to
    serializer_class = WebhookSubscriptionSerializer
    search_fields = ["name", "url"]
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = ADMIN_RULES

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        answer = WebhookSubscriptionWithSecretSerializer(serializer.instance)
        return Response(answer.data, status=status.HTTP_201_CREATED)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        is_active = data.pop("is_active", True)
        subscription = webhook_subscription_create(by=self.request.user, **data)
        if not is_active:
            subscription = webhook_subscription_update(
                subscription=subscription, by=self.request.user, is_active=False
            )
        serializer.instance = subscription

    def perform_update(self, serializer):
        serializer.instance = webhook_subscription_update(
            subscription=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        webhook_subscription_delete(subscription=instance, by=self.request.user)

    @extend_schema(
        summary="Give the subscription a new secret; the answer holds it, shown once",
        request=None,
        responses=WebhookSubscriptionWithSecretSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = webhook_subscription_rotate_secret(
            subscription=self.get_object(), by=request.user
        )
        return Response(WebhookSubscriptionWithSecretSerializer(subscription).data)

    @extend_schema(
        summary="Send a test event (ping) to the subscription's URL",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        sent = webhook_test_send(subscription=self.get_object(), by=request.user)
        deliveries = webhook_deliveries_visible_to(request.user).select_related("subscription")
        return Response(
            WebhookDeliverySerializer(deliveries.get(pk=sent.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )


@extend_schema_view(
    list=extend_schema(summary="The delivery log, newest first (admins)"),
    retrieve=extend_schema(
        summary="One delivery, with its attempts and payload",
        responses=WebhookDeliveryDetailSerializer,
    ),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Each event sent to each subscription: status, response code, attempts (admins only)."""

    selector = webhook_deliveries_visible_to
    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]
    lookup_value_regex = r"\d+"
    role_rules = ADMIN_RULES

    def shape(self, queryset):
        return queryset.select_related("subscription")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return WebhookDeliveryDetailSerializer
        return WebhookDeliverySerializer

    @extend_schema(
        summary="Send a finished delivery's event again, as a new delivery",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        again = webhook_redeliver(delivery=self.get_object(), by=request.user)
        return Response(
            WebhookDeliverySerializer(self.get_queryset().get(pk=again.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )
