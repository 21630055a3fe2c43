"""The admin for activities, written through the activity services."""

from django import forms
from django.contrib import admin

from pipeline.checks.activities import activity_log_errors
from pipeline.models import Activity
from pipeline.services import activity_delete, activity_log, activity_update
from salesmgr.admin import ActingUserForms, AdminRoleOnly, adopt

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
            errors = activity_log_errors(
                kind=cleaned["kind"],
                subject=cleaned["subject"],
                deal=cleaned.get("deal"),
                account=cleaned.get("account"),
            )
            for field, message in errors.items():
                self.add_error(field, message)
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
            changes = {field: form.cleaned_data[field] for field in form.changed_data}
            adopt(obj, activity_update(activity=obj, by=request.user, **changes))
        else:
            adopt(obj, form.write(by=request.user))

    def delete_model(self, request, obj):
        activity_delete(activity=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for activity in queryset:
            activity_delete(activity=activity, by=request.user)
