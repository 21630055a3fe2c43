"""The admin for activities, logged through ``activity_log``."""

from django import forms
from django.contrib import admin

from pipeline.models import Activity
from pipeline.services import activity_log
from salesmgr.admin import ActingUserForms, AdminRoleOnly, add_refusal, adopt, service_refusal

ACTIVITY_LOG_FIELDS = ("kind", "subject", "body", "occurred_at", "deal", "account")


class ActivityAddForm(forms.ModelForm):
    class Meta:
        model = Activity
        fields = ACTIVITY_LOG_FIELDS

    def write(self, by) -> Activity:
        return activity_log(
            by=by, **{field: self.cleaned_data.get(field) for field in ACTIVITY_LOG_FIELDS}
        )

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            add_refusal(self, service_refusal(lambda: self.write(by=self.acting_user)))
        return cleaned


@admin.register(Activity)
class ActivityAdmin(ActingUserForms, AdminRoleOnly, admin.ModelAdmin):
    list_display = ("subject", "kind", "occurred_at", "author", "deal", "account")
    list_select_related = ("author", "deal", "account")
    list_filter = ("kind",)
    search_fields = ("subject", "deal__name", "account__name")
    autocomplete_fields = ("deal", "account")
    ordering = ("-occurred_at", "-id")
    show_full_result_count = False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ActivityAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ACTIVITY_LOG_FIELDS
        return ("kind", "subject", "body", "occurred_at", "author", "deal", "account", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # What an activity is about, and who logged it, is fixed once it is logged.
        return ("author", "deal", "account", "created_at") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            adopt(obj, form.write(by=request.user))
