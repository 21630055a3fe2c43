"""The admin for products."""

from django.contrib import admin

from pipeline.models import Product
from salesmgr.admin import AdminRoleOnly


@admin.register(Product)
class ProductAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "sku", "unit_price", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "sku")
