"""The admin for commission plans (through the plan services) and statements (read only).

A plan's tiers and product bonuses are shown here and edited on the plan's own page in
the app (``/compensation/plans/{id}/``), which replaces them as a whole. A statement is a
stored computation: its versions never change, so every field and line is read only.
"""

from django import forms
from django.contrib import admin

from reports.compensation.models import (
    STATEMENT_FIGURES,
    CommissionPlan,
    CommissionStatement,
    PlanProductBonus,
    PlanTier,
    StatementLine,
)
from reports.compensation.services import (
    PLAN_FIELDS,
    TierSpec,
    plan_create,
    plan_delete,
    plan_errors,
    plan_update,
)
from salesmgr.admin import (
    ActingUserForms,
    AdminRoleOnly,
    ReadOnlyForAdmins,
    add_errors,
    adopt,
)


class PlanTierInline(ReadOnlyForAdmins, admin.TabularInline):
    model = PlanTier
    fields = ("from_attainment", "rate")
    extra = 0
    verbose_name_plural = "Tiers (edited on the plan's page in the app)"


class PlanProductBonusInline(ReadOnlyForAdmins, admin.TabularInline):
    model = PlanProductBonus
    fields = ("product", "amount")
    extra = 0
    verbose_name_plural = "Product bonuses (edited on the plan's page in the app)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


class CommissionPlanForm(forms.ModelForm):
    class Meta:
        model = CommissionPlan
        fields = ("rep", *PLAN_FIELDS)

    def clean(self):
        cleaned = super().clean()
        rep = cleaned.get("rep") or getattr(self.instance, "rep", None)
        if self.errors or rep is None:
            return cleaned
        plan = self.instance if self.instance.pk else None
        tiers = [TierSpec(t.from_attainment, t.rate) for t in plan.tiers.all()] if plan else []
        errors = plan_errors(
            rep=rep,
            effective_from=cleaned["effective_from"],
            effective_to=cleaned.get("effective_to"),
            kind=cleaned["kind"],
            tiers=tiers,
            bonuses=[],
            exclude_pk=plan.pk if plan else None,
        )
        if errors.get("tiers") and plan is None:
            errors["kind"] = [
                "Add a tiered plan on the Commissions > Plans page, where its tiers are given."
            ]
            del errors["tiers"]
        add_errors(self, {field: " ".join(messages) for field, messages in errors.items()})
        return cleaned


@admin.register(CommissionPlan)
class CommissionPlanAdmin(ActingUserForms, AdminRoleOnly, admin.ModelAdmin):
    form = CommissionPlanForm
    inlines = (PlanTierInline, PlanProductBonusInline)
    list_display = (
        "name",
        "rep",
        "effective_from",
        "effective_to",
        "kind",
        "flat_rate",
        "cap",
        "clawback_days",
    )
    list_select_related = ("rep",)
    list_filter = ("kind", "effective_from")
    search_fields = ("name", "rep__username", "rep__full_name")
    autocomplete_fields = ("rep",)
    ordering = ("rep__full_name", "-effective_from")
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return ("rep",) if obj is not None else ()  # a plan stays with its rep

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in PLAN_FIELDS}
            saved = plan_update(plan=obj, by=request.user, **changes)
        else:
            fields = {name: data[name] for name in PLAN_FIELDS}
            saved = plan_create(by=request.user, rep=data["rep"], **fields)
        adopt(obj, saved)

    def delete_model(self, request, obj):
        plan_delete(plan=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for plan in queryset:
            plan_delete(plan=plan, by=request.user)


class StatementLineInline(ReadOnlyForAdmins, admin.TabularInline):
    """The statement's lines as stored; the deal by its kept name and id (no query per line)."""

    model = StatementLine
    fields = (
        "position",
        "kind",
        "deal_ref",
        "deal_name",
        "closed_at",
        "value",
        "share",
        "credited",
        "amount",
        "note",
    )
    readonly_fields = fields
    extra = 0
    ordering = ("position",)


@admin.register(CommissionStatement)
class CommissionStatementAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    """Statements as computed: approved and recomputed in the app, never edited here."""

    inlines = (StatementLineInline,)
    list_display = ("rep", "month", "version", "status", "as_of", "plan_name", "total")
    list_select_related = ("rep",)
    list_filter = ("status", "month")
    search_fields = ("rep__username", "rep__full_name", "plan_name")
    ordering = ("-month", "rep__full_name", "-version")
    date_hierarchy = "month"
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("rep", "month", "version", "status", "as_of")}),
        (
            "Figures",
            {"fields": STATEMENT_FIGURES},
        ),
        (
            "Computed and approved",
            {"fields": ("computed_at", "computed_by", "approved_at", "approved_by")},
        ),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("rep", "plan", "computed_by", "approved_by")
        )
