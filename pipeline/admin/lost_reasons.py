"""The admin for lost reasons, written through the lost reason services."""

from django.contrib import admin

from pipeline.admin.shared import ServiceWrites
from pipeline.checks.catalog import lost_reason_delete_errors
from pipeline.models import LostReason
from pipeline.services import lost_reason_create, lost_reason_delete, lost_reason_update
from pipeline.services.catalog import LOST_REASON_FIELDS
from salesmgr.admin import AdminRoleOnly


@admin.register(LostReason)
class LostReasonAdmin(ServiceWrites, AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    entity = "lost_reason"
    written_fields = LOST_REASON_FIELDS
    create_service = lost_reason_create
    update_service = lost_reason_update
    delete_service = lost_reason_delete
    delete_errors = lost_reason_delete_errors
