"""What the pipeline's admins share: the deleted filter, writing through the services, and history."""

from collections.abc import Callable

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from simple_history.admin import SimpleHistoryAdmin

from salesmgr.admin import adopt, deletion_summary, with_refusals


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return (("no", "Not deleted"), ("yes", "Deleted"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class ServiceWrites:
    """Saves and deletes a row through its entity's services, not the model's own methods.

    A subclass names the entity (the services' keyword for the row), the fields
    the services write, and the services; a delete the check refuses is listed
    on the confirmation page as protected, in the check's words.
    """

    entity: str
    written_fields: tuple[str, ...]
    create_service: Callable[..., Model]
    update_service: Callable[..., Model]
    delete_service: Callable[..., None]
    delete_errors: Callable[..., dict[str, str]]

    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                field: form.cleaned_data[field]
                for field in form.changed_data
                if field in self.written_fields
            }
            saved = type(self).update_service(**{self.entity: obj}, by=request.user, **changes)
        else:
            fields = {
                field: form.cleaned_data[field]
                for field in self.written_fields
                if field in form.cleaned_data
            }
            saved = type(self).create_service(by=request.user, **fields)
        adopt(obj, saved)

    def get_deleted_objects(self, objs, request):
        refusals = [
            f"{row}: {message}"
            for row in objs
            for message in type(self).delete_errors(**{self.entity: row}).values()
        ]
        return with_refusals(super().get_deleted_objects(objs, request), refusals)

    def delete_model(self, request, obj):
        type(self).delete_service(**{self.entity: obj}, by=request.user)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            self.delete_model(request, row)


class SoftDeletes:
    """An admin whose delete hides the chosen rows through their service, one by one.

    A subclass says how in ``soft_delete``; the confirmation lists only those rows.
    """

    delete_confirmation_template = "admin/pipeline/soft_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/pipeline/soft_delete_selected_confirmation.html"

    def soft_delete(self, obj, *, by) -> None:
        raise NotImplementedError

    def get_deleted_objects(self, objs, request):
        return deletion_summary(self, objs)

    def delete_model(self, request, obj):
        self.soft_delete(obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.soft_delete(obj, by=request.user)


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """An admin showing a row's change history, whose old versions are never saved back.

    Saving an old version would write the row past its services and their rules.
    """

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
