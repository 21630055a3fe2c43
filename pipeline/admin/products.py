"""The admin for products, written through the product services."""

from django.contrib import admin

from pipeline.admin.shared import ServiceWrites
from pipeline.checks.catalog import product_delete_errors
from pipeline.models import Product
from pipeline.services import product_create, product_delete, product_update
from pipeline.services.catalog import PRODUCT_FIELDS
from salesmgr.admin import AdminRoleOnly


@admin.register(Product)
class ProductAdmin(ServiceWrites, AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "sku", "unit_price", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "sku")
    entity = "product"
    written_fields = PRODUCT_FIELDS
    create_service = product_create
    update_service = product_update
    delete_service = product_delete
    delete_errors = product_delete_errors
