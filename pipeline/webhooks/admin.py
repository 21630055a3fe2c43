"""The admin for webhooks: subscriptions written through their services, and the delivery log to read.

A new or rotated secret is shown once, in the message after the save or the action.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from pipeline.webhooks.checks import webhook_subscription_errors
from pipeline.webhooks.models import (
    SUBSCRIBABLE_EVENTS,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from pipeline.webhooks.services import (
    webhook_redeliver,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_rotate_secret,
    webhook_subscription_update,
    webhook_test_send,
)
from salesmgr.admin import AdminRoleOnly, ReadOnlyForAdmins, adopt
from salesmgr.errors import PermissionDenied

WRITTEN_FIELDS = ("name", "url", "events", "is_active")


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.CharField(max_length=500, label="URL")
    events = forms.MultipleChoiceField(
        choices=[(event, WebhookEvent(event).label) for event in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookSubscription
        fields = WRITTEN_FIELDS

    def clean(self):
        cleaned = super().clean()
        errors = webhook_subscription_errors(
            name=cleaned.get("name"), url=cleaned.get("url"), events=cleaned.get("events")
        )
        for field, problems in errors.items():
            if field not in self.errors:
                self.add_error(field, problems)
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("name", "url", "is_active", "consecutive_failures", "disabled_reason", "log")
    list_filter = ("is_active",)
    search_fields = ("name", "url")
    readonly_fields = (
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "created_by",
        "created_at",
        "updated_at",
        "log",
    )
    actions = ("rotate_secret", "send_test_event")

    @admin.display(description="Delivery log")
    def log(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:pipeline_webhookdelivery_changelist")
        return format_html('<a href="{}?subscription__id__exact={}">Deliveries</a>', url, obj.pk)

    def save_model(self, request, obj, form, change):
        if change:
            changes = {f: form.cleaned_data[f] for f in form.changed_data if f in WRITTEN_FIELDS}
            saved = webhook_subscription_update(subscription=obj, by=request.user, **changes)
        else:
            fields = {f: form.cleaned_data[f] for f in ("name", "url", "events")}
            saved = webhook_subscription_create(by=request.user, **fields)
            if not form.cleaned_data.get("is_active", True):
                saved = webhook_subscription_update(
                    subscription=saved, by=request.user, is_active=False
                )
            self.message_user(
                request,
                f"The secret of {saved.name!r} is {saved.secret} — copy it now, it is not shown again.",
                messages.WARNING,
            )
        adopt(obj, saved)

    def delete_model(self, request, obj):
        webhook_subscription_delete(subscription=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            self.delete_model(request, row)

    @admin.action(description="Rotate the secret (the new one is shown once)")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            rotated = webhook_subscription_rotate_secret(subscription=subscription, by=request.user)
            self.message_user(
                request,
                f"The new secret of {rotated.name!r} is {rotated.secret} — copy it now.",
                messages.WARNING,
            )

    @admin.action(description="Send a test event")
    def send_test_event(self, request, queryset):
        for subscription in queryset:
            try:
                webhook_test_send(subscription=subscription, by=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{subscription.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"A test event to {subscription.name!r} is queued.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    list_display = (
        "id",
        "subscription",
        "event",
        "status",
        "attempts",
        "response_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "event", "subscription")
    list_select_related = ("subscription",)
    search_fields = ("event_id",)
    fields = (
        "subscription",
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
        "attempts_table",
        "payload",
    )
    readonly_fields = fields
    actions = ("redeliver",)

    @admin.display(description="Attempts made")
    def attempts_table(self, obj):
        lines = [
            f"{entry['at']}: {entry['response_code'] or '-'} {entry['error']} ({entry['ms']} ms)"
            for entry in obj.attempt_log
        ]
        return format_html("<pre>{}</pre>", "\n".join(lines) or "none yet")

    @admin.display(description="Payload")
    def payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(json.loads(obj.body), indent=2))

    @admin.action(description="Redeliver (send the event again)")
    def redeliver(self, request, queryset):
        for delivery in queryset.select_related("subscription"):
            try:
                webhook_redeliver(delivery=delivery, by=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"Delivery {delivery.pk}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Delivery {delivery.pk} is queued again.")
