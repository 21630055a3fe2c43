"""The admin for a deal's line items: edited inline on the deal, replaced by ``line_items_set``."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from pipeline.models import DealLineItem
from pipeline.services import LineItemSpec, line_items_set
from salesmgr.admin import AdminRoleOnly, ReadOnlyForAdmins, service_refusal


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
    """The deal's line items, replaced as a whole by ``line_items_set``."""

    def specs(self) -> list[LineItemSpec]:
        return [
            LineItemSpec(
                product=form.cleaned_data["product"],
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                discount_pct=form.cleaned_data.get("discount_pct") or 0,
            )
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def clean(self):
        super().clean()
        if any(self.errors) or not self.has_changed():
            return
        refusal = service_refusal(
            lambda: line_items_set(
                deal=self.instance, items=self.specs(), by=self.acting_user, expected_version=None
            )
        )
        if refusal is not None:
            raise ValidationError(refusal.messages)


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
