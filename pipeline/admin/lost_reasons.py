"""The admin for lost reasons."""

from django.contrib import admin

from pipeline.models import LostReason
from salesmgr.admin import AdminRoleOnly


@admin.register(LostReason)
class LostReasonAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
