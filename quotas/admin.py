"""The admin for territories and quotas, written through the quota services and checked by their rules."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Q

from quotas.checks import quota_errors, territory_delete_errors, territory_parent_errors
from quotas.models import Quota, Territory
from quotas.services import (
    quota_delete,
    quota_set,
    territory_create,
    territory_delete,
    territory_update,
)
from salesmgr.admin import AdminRoleOnly, add_errors, adopt, with_refusals
from salesmgr.models import Role, User

TERRITORY_FIELDS = ("name", "parent", "region", "reps")


class TerritoryForm(forms.ModelForm):
    class Meta:
        model = Territory
        fields = TERRITORY_FIELDS
        help_texts = {
            "reps": "Active reps; a territory's accounts are sold by the reps assigned here."
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "reps" in self.fields:
            offered = Q(role=Role.REP, is_active=True)
            if self.instance.pk is not None:
                offered |= Q(pk__in=self.instance.reps.values("pk"))
            self.fields["reps"].queryset = User.objects.filter(offered).order_by(
                "full_name", "username"
            )

    def clean(self):
        cleaned = super().clean()
        if "parent" in self.changed_data and "parent" in cleaned:
            add_errors(
                self, territory_parent_errors(territory=self.instance, parent=cleaned["parent"])
            )
        return cleaned


@admin.register(Territory)
class TerritoryAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = TerritoryForm
    list_display = ("name", "parent", "region", "rep_count")
    list_select_related = ("parent",)
    list_filter = ("region",)
    search_fields = ("name", "region")
    autocomplete_fields = ("parent",)
    filter_horizontal = ("reps",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(rep_count=Count("reps", distinct=True))

    @admin.display(description="Reps", ordering="rep_count")
    def rep_count(self, territory: Territory) -> int:
        return territory.rep_count

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {
                field: data[field] for field in form.changed_data if field in TERRITORY_FIELDS
            }
            adopt(obj, territory_update(territory=obj, by=request.user, **changes))
        else:
            adopt(
                obj,
                territory_create(
                    **{field: data[field] for field in TERRITORY_FIELDS}, by=request.user
                ),
            )

    def save_related(self, request, form, formsets, change):
        """The reps were set by the territory services; only inlines are left to save."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def get_deleted_objects(self, objs, request):
        refusals = [
            f"{territory}: {message}"
            for territory in objs
            for message in territory_delete_errors(territory=territory).values()
        ]
        return with_refusals(super().get_deleted_objects(objs, request), refusals)

    def delete_model(self, request, obj):
        territory_delete(territory=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for territory in queryset:
            territory_delete(territory=territory, by=request.user)


QUOTA_FIELDS = ("owner", "period", "period_start", "period_end", "target")


class QuotaForm(forms.ModelForm):
    class Meta:
        model = Quota
        fields = QUOTA_FIELDS

    def service_arguments(self) -> dict:
        return {field: self.cleaned_data[field] for field in QUOTA_FIELDS}

    def clean(self):
        cleaned = super().clean()
        if all(field in cleaned for field in QUOTA_FIELDS):
            arguments = self.service_arguments()
            arguments.pop("period")
            add_errors(self, quota_errors(**arguments, quota=self.instance))
        return cleaned


@admin.register(Quota)
class QuotaAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = QuotaForm
    list_display = ("owner", "period", "period_start", "period_end", "target")
    list_select_related = ("owner",)
    list_filter = ("period", "period_start")
    search_fields = ("owner__username", "owner__full_name")
    autocomplete_fields = ("owner",)
    ordering = ("-period_start", "owner__full_name")

    def save_model(self, request, obj, form, change):
        adopt(obj, quota_set(quota=obj if change else None, **form.service_arguments()))

    def delete_model(self, request, obj):
        quota_delete(quota=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for quota in queryset:
            quota_delete(quota=quota, by=request.user)
