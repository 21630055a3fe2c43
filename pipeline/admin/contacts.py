"""The admin for contacts, on their own and inline on their account."""

from django.contrib import admin

from pipeline.models import Contact
from salesmgr.admin import AdminRoleOnly


class ContactInline(AdminRoleOnly, admin.TabularInline):
    model = Contact
    fields = ("first_name", "last_name", "title", "email", "phone")
    extra = 0


@admin.register(Contact)
class ContactAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("__str__", "account", "title", "email", "phone")
    list_select_related = ("account",)
    search_fields = ("first_name", "last_name", "email", "account__name")
    autocomplete_fields = ("account",)
    show_full_result_count = False
