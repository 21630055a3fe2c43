"""The admin for a deal's line items: edited inline on the deal, replaced in the deal's one ``deal_edit``."""

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet

from pipeline.checks.deals import line_item_errors
from pipeline.models import DealLineItem
from pipeline.services import LineItemSpec
from salesmgr.admin import AdminRoleOnly, ReadOnlyForAdmins


class LineItemForm(forms.ModelForm):
    class Meta:
        model = DealLineItem
        fields = ("product", "quantity", "unit_price", "discount_pct")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit_price"].required = False
        self.fields["unit_price"].help_text = "Empty for the product's list price."

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("unit_price") is None and cleaned.get("product") is not None:
            cleaned["unit_price"] = cleaned["product"].unit_price
        return cleaned


class LineItemFormSet(BaseInlineFormSet):
    """The deal's line items, replaced as a whole in the deal's one ``deal_edit``."""

    def specs(self) -> list[LineItemSpec]:
        return [
            LineItemSpec(
                product=form.cleaned_data["product"],
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                discount_pct=form.cleaned_data.get("discount_pct") or 0,
            )
            for form in self._kept_forms()
        ]

    def clean(self):
        super().clean()
        if any(self.errors) or not self.has_changed():
            return
        for form, spec in zip(self._kept_forms(), self.specs(), strict=True):
            errors = line_item_errors(
                product_active=spec.product.is_active,
                quantity=spec.quantity,
                unit_price=spec.unit_price,
                discount_pct=spec.discount_pct,
            )
            for field, problems in errors.items():
                form.add_error(field, problems)

    def _kept_forms(self) -> list[forms.Form]:
        return [
            form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


class LineItemInline(AdminRoleOnly, admin.TabularInline):
    model = DealLineItem
    form = LineItemForm
    formset = LineItemFormSet
    fields = ("product", "quantity", "unit_price", "discount_pct", "total")
    readonly_fields = ("total",)
    autocomplete_fields = ("product",)
    extra = 0
    verbose_name_plural = "Line items (a deal with line items is worth their total)"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.acting_user = request.user  # the factory built a fresh class for this request
        return formset

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    @admin.display(description="Line total")
    def total(self, item: DealLineItem):
        return item.total if item.pk else "-"


@admin.register(DealLineItem)
class DealLineItemAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    """Line items across deals, to look up; they are edited on their deal's page."""

    list_display = ("deal", "product", "quantity", "unit_price", "discount_pct", "total")
    list_select_related = ("deal", "product")
    search_fields = ("deal__name", "product__name", "product__sku")
    ordering = ("-id",)
    show_full_result_count = False

    @admin.display(description="Line total")
    def total(self, item: DealLineItem):
        return item.total
