"""The admin for people and the reporting line, and what every app's admin shares.

Writes that matter go through the services in the admin as everywhere else.
So that a refusal reaches the user as a form error rather than a 500, a form
calls the service's check functions in ``clean()`` (``add_errors``,
``add_refusal``), and the admin's ``save_model()`` then calls the service.

The admin belongs to the admin role: Salesmgr's model admins grant access by
role (``AdminRoleOnly``), not by Django's per-model permissions.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AdminUserCreationForm,
    UserChangeForm,
    UsernameField,
)
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.authtoken.models import TokenProxy

from salesmgr.checks import user_change_errors, user_create_errors, user_delete_errors
from salesmgr.forms import AdminSignInForm
from salesmgr.models import User
from salesmgr.services import (
    USER_UPDATABLE_FIELDS,
    scheduled_job_set_enabled,
    user_create,
    user_delete,
    user_set_password,
    user_update,
)

admin.site.site_header = "Salesmgr administration"
admin.site.login_form = AdminSignInForm
admin.site.site_title = "Salesmgr admin"
admin.site.index_title = "Set up Salesmgr"

# Off the index: the admin grants access by role, not by Django's groups; API
# tokens are a person's own (signing in issues one, deactivating stops it) and
# their keys are secrets; the schedule tables are the standing jobs' plumbing,
# shown on each job below. What stays of django-celery-beat is the list of
# standing jobs, where an admin sees when each last ran and may pause one.
for _model in (
    Group,
    TokenProxy,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    SolarSchedule,
    PeriodicTask,
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


def add_errors(form: forms.BaseForm, errors: dict[str, str]) -> None:
    """Put a check's errors on ``form``: under the field each names, else at the top."""
    for field, message in errors.items():
        form.add_error(field if field in form.fields else None, message)


def add_refusal(form: forms.BaseForm, refusal: ValidationError | None) -> None:
    """Put a service's refusal on ``form``: under the field it names, else at the top."""
    if refusal is None:
        return
    if not hasattr(refusal, "error_dict"):
        form.add_error(None, refusal)
        return
    for field, errors in refusal.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def adopt(target: models.Model, saved: models.Model) -> None:
    """Make the admin's ``target`` the row a service saved as ``saved``.

    The admin keeps using the object it built from the form (to log the change
    and redirect), so it takes the values the service wrote, primary key included.
    """
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


def is_autocomplete(request: HttpRequest) -> bool:
    """Whether ``request`` is the admin's autocomplete lookup for a foreign key widget."""
    return request.resolver_match is not None and request.resolver_match.url_name == "autocomplete"


def deletion_summary(model_admin: admin.ModelAdmin, objs) -> tuple[list, dict, set, list]:
    """What a soft delete will touch, in the shape ``get_deleted_objects`` returns.

    Only the rows chosen are hidden: nothing related goes and nothing protects them.
    """
    opts = model_admin.opts
    rows = list(objs)
    labels = [
        format_html(
            '{}: <a href="{}">{}</a>',
            capfirst(opts.verbose_name),
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(row.pk)]),
            row,
        )
        for row in rows
    ]
    return labels, {opts.verbose_name_plural: len(rows)}, set(), []


def with_refusals(summary: tuple[list, dict, set, list], refusals: list[str]) -> tuple:
    """The admin's deletion summary, where a check's refusals come first and are the reason shown."""
    if not refusals:
        return summary
    deleted, counts, _perms_needed, protected = summary
    return deleted, counts, set(), [*refusals, *protected]


class AdminRoleOnly:
    """Grants everything to active users of the admin role (and superusers), nothing to others."""

    @staticmethod
    def _is_admin(request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_admin

    def has_module_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_add_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_change_permission(self, request, obj=None):
        return self._is_admin(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_admin(request)


class ReadOnlyForAdmins(AdminRoleOnly):
    """Admins may look; rows are written only by the services that own them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActingUserForms:
    """Hands the signed-in user to the admin's form classes, for the services' ``by``."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        form_class.acting_user = request.user  # the factory built a fresh class for this request
        return form_class


class UserAddForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "full_name", "email", "role", "manager")
        field_classes = {"username": UsernameField}

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "username": data["username"],
            "role": data["role"],
            "full_name": data.get("full_name", ""),
            "email": data.get("email", ""),
            "manager": data.get("manager"),
        }

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            add_errors(self, user_create_errors(username=cleaned["username"], role=cleaned["role"]))
        return cleaned


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User

    def changes(self) -> dict:
        """The changed fields that ``user_update`` writes."""
        return {
            field: self.cleaned_data[field]
            for field in self.changed_data
            if field in USER_UPDATABLE_FIELDS and field in self.cleaned_data
        }

    def clean(self):
        cleaned = super().clean()
        add_errors(
            self,
            user_change_errors(user=self.instance, by=self.acting_user, changes=self.changes()),
        )
        return cleaned


class PasswordChangeForm(AdminPasswordChangeForm):
    """The admin's password form, through the service: a new password signs the person out everywhere."""

    def save(self, commit=True):
        usable = self.cleaned_data.get("set_usable_password", True)
        password = self.cleaned_data["password1"] if usable else None
        return user_set_password(user=self.user, password=password)


@admin.register(User)
class UserAdmin(ActingUserForms, AdminRoleOnly, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    change_password_form = PasswordChangeForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("full_name", "email", "role", "manager")}),
        (
            "Access",
            {
                "fields": ("is_active", "is_staff", "is_superuser"),
                "description": "Staff status follows the role: admins and superusers are staff, others are not.",
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "full_name",
                    "email",
                    "role",
                    "manager",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    list_display = ("username", "full_name", "email", "role", "manager", "is_active", "is_staff")
    list_filter = ("role", ("manager", admin.RelatedOnlyFieldListFilter), "is_active", "is_staff")
    list_select_related = ("manager",)
    search_fields = ("username", "full_name", "email")
    ordering = ("full_name", "username")
    autocomplete_fields = ("manager",)
    readonly_fields = ("is_staff",)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if is_autocomplete(request):
            queryset = queryset.filter(is_active=True)
        return queryset, may_have_duplicates

    def save_model(self, request, obj, form, change):
        if not change:
            password = (
                form.cleaned_data["password1"]
                if form.cleaned_data.get("set_usable_password")
                else None
            )
            adopt(obj, user_create(password=password, **form.service_arguments()))
        else:
            adopt(obj, user_update(user=obj, by=request.user, **form.changes()))

    def get_deleted_objects(self, objs, request):
        refusals = [
            f"{user}: {message}"
            for user in objs
            for message in user_delete_errors(user=user, by=request.user).values()
        ]
        return with_refusals(super().get_deleted_objects(objs, request), refusals)

    def delete_model(self, request, obj):
        user_delete(user=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            user_delete(user=user, by=request.user)


@admin.register(PeriodicTask)
class ScheduledJobAdmin(AdminRoleOnly, admin.ModelAdmin):
    """The standing jobs (nightly snapshots, purging deleted deals), set in settings.

    Admins see when each runs and last ran, and may pause one; the jobs
    themselves are defined in code, so none is added, edited or deleted here.
    """

    list_display = ("name", "task", "runs", "enabled", "last_run_at", "total_run_count")
    list_filter = ("enabled",)
    search_fields = ("name", "task")
    fields = ("name", "task", "runs", "enabled", "last_run_at", "total_run_count", "description")
    readonly_fields = ("name", "task", "runs", "last_run_at", "total_run_count", "description")
    ordering = ("name",)
    actions = None

    @admin.display(description="Runs")
    def runs(self, job: PeriodicTask) -> str:
        return str(job.scheduler or "-")

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("interval", "crontab", "solar", "clocked")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if "enabled" in form.changed_data:
            scheduled_job_set_enabled(
                job=obj, enabled=form.cleaned_data["enabled"], by=request.user
            )
