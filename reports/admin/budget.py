"""The admin for team budgets and the amounts entered against them, through the budget services.

A budget's team and year are set when it is added; amounts are set per (kind, category,
month), so on an existing amount only the amount changes. Headcount is planned from the
commission plans and cannot be entered as a planned programme (a form error, as on the page).
"""

from django import forms
from django.contrib import admin

from reports.budget.models import BudgetAmount, TeamBudget
from reports.budget.services import (
    budget_amount_delete,
    budget_amount_errors,
    budget_amount_set,
    budget_create,
    budget_delete,
)
from salesmgr.admin import AdminRoleOnly, ReadOnlyForAdmins, add_errors, adopt
from salesmgr.models import Role

AMOUNT_KEYS = ("budget", "kind", "category", "month")


class TeamBudgetForm(forms.ModelForm):
    class Meta:
        model = TeamBudget
        fields = ("manager", "year")

    def clean(self):
        cleaned = super().clean()
        manager, year = cleaned.get("manager"), cleaned.get("year")
        if self.instance.pk is None and manager is not None and year is not None:
            errors = {}
            if manager.role != Role.MANAGER:
                errors["manager"] = "A budget belongs to a manager's team."
            elif TeamBudget.objects.filter(manager=manager, year=year).exists():
                errors["year"] = f"{manager.display_name}'s team already has a budget for {year}."
            add_errors(self, errors)
        return cleaned


class BudgetAmountInline(ReadOnlyForAdmins, admin.TabularInline):
    model = BudgetAmount
    fields = ("month", "kind", "category", "amount", "updated_at")
    extra = 0
    verbose_name_plural = "Amounts (set each under Budget amounts, or on the budget's page)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("budget__manager")


@admin.register(TeamBudget)
class TeamBudgetAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = TeamBudgetForm
    inlines = (BudgetAmountInline,)
    list_display = ("manager", "year", "created_at")
    list_select_related = ("manager",)
    list_filter = ("year",)
    search_fields = ("manager__username", "manager__full_name")
    autocomplete_fields = ("manager",)
    ordering = ("-year", "manager__full_name")

    def get_readonly_fields(self, request, obj=None):
        return ("manager", "year", "created_at") if obj is not None else ("created_at",)

    def save_model(self, request, obj, form, change):
        if not change:
            adopt(
                obj,
                budget_create(
                    manager=form.cleaned_data["manager"],
                    year=form.cleaned_data["year"],
                    by=request.user,
                ),
            )

    def delete_model(self, request, obj):
        budget_delete(budget=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for budget in queryset:
            budget_delete(budget=budget, by=request.user)


class BudgetAmountForm(forms.ModelForm):
    class Meta:
        model = BudgetAmount
        fields = ("budget", "kind", "category", "month", "amount")

    def clean(self):
        cleaned = super().clean()
        values = {key: cleaned.get(key, getattr(self.instance, key, None)) for key in AMOUNT_KEYS}
        if self.errors or cleaned.get("amount") is None or None in values.values():
            return cleaned
        errors = budget_amount_errors(
            kind=values["kind"],
            category=values["category"],
            month=values["month"],
            amount=cleaned["amount"],
        )
        if self.instance.pk is None and BudgetAmount.objects.filter(**values).exists():
            errors["month"] = ["This month already has an amount of that kind and category."]
        add_errors(self, {field: " ".join(messages) for field, messages in errors.items()})
        return cleaned


@admin.register(BudgetAmount)
class BudgetAmountAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = BudgetAmountForm
    list_display = ("budget", "month", "kind", "category", "amount", "updated_at")
    list_select_related = ("budget__manager",)
    list_filter = ("kind", "category", "budget__year")
    search_fields = ("budget__manager__username", "budget__manager__full_name")
    autocomplete_fields = ("budget",)
    ordering = ("-budget__year", "budget__manager__full_name", "month", "kind", "category")
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("budget__manager")

    def get_readonly_fields(self, request, obj=None):
        return AMOUNT_KEYS if obj is not None else ()  # an amount stays in its cell

    def save_model(self, request, obj, form, change):
        keys = {key: getattr(obj, key) for key in AMOUNT_KEYS}
        adopt(obj, budget_amount_set(**keys, amount=form.cleaned_data["amount"], by=request.user))

    def delete_model(self, request, obj):
        budget_amount_delete(amount=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for amount in queryset:
            budget_amount_delete(amount=amount, by=request.user)
