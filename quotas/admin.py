"""The admin for territories and quotas; the reparenting and overlap rules hold here too."""

from django import forms
from django.contrib import admin
from django.db.models import Count

from quotas.models import Quota, Territory
from quotas.services import quota_set, territory_set_parent
from salesmgr.admin import AdminRoleOnly, add_refusal, adopt, service_refusal


class TerritoryForm(forms.ModelForm):
    class Meta:
        model = Territory
        fields = ("name", "parent", "region", "reps")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and "parent" in self.changed_data and "parent" in cleaned:
            parent = cleaned["parent"]
            add_refusal(
                self,
                service_refusal(
                    lambda: territory_set_parent(territory=self.instance, parent=parent)
                ),
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

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "reps":
            kwargs["queryset"] = db_field.remote_field.model.objects.order_by(
                "full_name", "username"
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change and "parent" in form.changed_data:
            territory_set_parent(territory=obj, parent=form.cleaned_data["parent"])
        super().save_model(request, obj, form, change)


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
            existing = self.instance if self.instance.pk else None
            add_refusal(
                self, service_refusal(lambda: quota_set(quota=existing, **self.service_arguments()))
            )
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
