"""Writes to what deals are made of: products and lost reasons."""

from decimal import Decimal

from django.db import transaction

from pipeline.checks.catalog import lost_reason_delete_errors, product_delete_errors
from pipeline.models import LostReason, Product
from pipeline.services.fields import refuse, set_fields
from salesmgr.models import User

PRODUCT_FIELDS = ("name", "sku", "unit_price", "is_active")
LOST_REASON_FIELDS = ("name", "is_active")


def product_create(
    *, name: str, sku: str, unit_price: Decimal, is_active: bool = True, by: User
) -> Product:
    """Add a product to sell."""
    product = Product(name=name, sku=sku, unit_price=unit_price, is_active=is_active)
    product.full_clean()
    product.save()
    return product


def product_update(*, product: Product, by: User, **changes) -> Product:
    """Rename, reprice, retire or bring back ``product``; deals keep their line prices."""
    set_fields(product, changes, PRODUCT_FIELDS)
    product.full_clean()
    product.save(update_fields=list(changes))
    return product


def product_delete(*, product: Product, by: User) -> None:
    """Delete ``product``; refused once a deal includes it (deactivate it instead)."""
    with transaction.atomic():
        refuse(product_delete_errors(product=product))
        product.delete()


def lost_reason_create(*, name: str, is_active: bool = True, by: User) -> LostReason:
    """Add a reason deals are lost for."""
    lost_reason = LostReason(name=name, is_active=is_active)
    lost_reason.full_clean()
    lost_reason.save()
    return lost_reason


def lost_reason_update(*, lost_reason: LostReason, by: User, **changes) -> LostReason:
    """Rename, retire or bring back ``lost_reason``."""
    set_fields(lost_reason, changes, LOST_REASON_FIELDS)
    lost_reason.full_clean()
    lost_reason.save(update_fields=list(changes))
    return lost_reason


def lost_reason_delete(*, lost_reason: LostReason, by: User) -> None:
    """Delete ``lost_reason``; refused once a deal was lost for it (deactivate it instead)."""
    with transaction.atomic():
        refuse(lost_reason_delete_errors(lost_reason=lost_reason))
        lost_reason.delete()
