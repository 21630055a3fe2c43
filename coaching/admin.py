"""The admin for hiring: positions (through the hiring services), and applicants, interview notes
and scorecards to look up (read only).

An applicant moves through the board and is hired there (which makes the user and their
ramped quota), and notes and scorecards are written by the hiring manager on the applicant's
page; here admins only read them. Like every model admin of Salesmgr's, these are for the
admin role alone, so the notes reach no one beyond the hiring manager and admins.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count

from coaching.models import Applicant, CompetencyRating, InterviewNote, Position, Scorecard
from coaching.models.hiring import PositionStatus
from coaching.services.hiring import (
    POSITION_UPDATABLE,
    position_create,
    position_errors,
    position_update,
)
from salesmgr.admin import (
    ActingUserForms,
    AdminRoleOnly,
    ReadOnlyForAdmins,
    add_errors,
    adopt,
)

POSITION_FIELDS = ("title", "manager", *[f for f in POSITION_UPDATABLE if f != "title"])


class PositionForm(forms.ModelForm):
    class Meta:
        model = Position
        fields = POSITION_FIELDS

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values = {name: cleaned.get(name) for name in POSITION_FIELDS}
        if self.instance.pk is not None:
            values["manager"] = self.instance.manager
        else:
            values["status"] = PositionStatus.OPEN
        errors = position_errors(values, self.acting_user)
        if self.instance.pk is not None and "status" in self.changed_data:
            if self.instance.status == PositionStatus.FILLED:
                errors["status"] = "This position is filled; open another one."
            elif cleaned["status"] == PositionStatus.FILLED:
                errors["status"] = "A position is filled by hiring one of its applicants."
        add_errors(self, errors)
        return cleaned


@admin.register(Position)
class PositionAdmin(ActingUserForms, AdminRoleOnly, admin.ModelAdmin):
    form = PositionForm
    list_display = (
        "title",
        "manager",
        "territory",
        "start_wanted",
        "status",
        "applicant_count",
        "filled_by",
    )
    list_select_related = ("manager", "territory", "filled_by")
    list_filter = ("status", "start_wanted")
    search_fields = ("title", "manager__username", "manager__full_name")
    autocomplete_fields = ("manager", "territory")
    ordering = ("start_wanted", "id")
    readonly_fields = ("filled_by", "created_by", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(applicant_count=Count("applicants"))

    @admin.display(description="Applicants", ordering="applicant_count")
    def applicant_count(self, position: Position) -> int:
        return position.applicant_count

    def get_readonly_fields(self, request, obj=None):
        fixed = self.readonly_fields
        return ("manager", *fixed) if obj is not None else fixed  # a position stays in its team

    def get_exclude(self, request, obj=None):
        return ("status",) if obj is None else ()  # a new position is open

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in POSITION_UPDATABLE}
            adopt(obj, position_update(position=obj, by=request.user, **changes))
        else:
            fields = {name: data[name] for name in POSITION_FIELDS if name in data}
            adopt(obj, position_create(by=request.user, **fields))

    def has_delete_permission(self, request, obj=None):
        return False  # cancel a position instead: its applicants and notes stay

    def delete_model(self, request, obj):
        raise PermissionDenied("Positions are cancelled, not deleted.")

    def delete_queryset(self, request, queryset):
        raise PermissionDenied("Positions are cancelled, not deleted.")


class InterviewNoteInline(ReadOnlyForAdmins, admin.StackedInline):
    model = InterviewNote
    fields = ("created_at", "author", "stage", "text")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


class ScorecardInline(ReadOnlyForAdmins, admin.TabularInline):
    model = Scorecard
    fields = ("created_at", "interviewer", "recommendation", "summary")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("interviewer")


@admin.register(Applicant)
class ApplicantAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    """Applicants to look up; they move and are hired on the position's board."""

    inlines = (InterviewNoteInline, ScorecardInline)
    list_display = (
        "full_name",
        "position",
        "stage",
        "rejection_reason",
        "source",
        "stage_changed_at",
        "hired_user",
    )
    list_select_related = ("position", "hired_user")
    list_filter = ("stage", "rejection_reason")
    search_fields = ("full_name", "email", "position__title")
    ordering = ("-stage_changed_at", "-id")
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("position", "hired_user")


@admin.register(InterviewNote)
class InterviewNoteAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    list_display = ("applicant", "position", "stage", "author", "created_at")
    list_select_related = ("applicant__position", "author")
    list_filter = ("stage",)
    search_fields = ("applicant__full_name", "applicant__position__title")
    ordering = ("-created_at", "-id")
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("applicant__position", "author")

    @admin.display(description="Position", ordering="applicant__position__title")
    def position(self, note: InterviewNote) -> Position:
        return note.applicant.position


class CompetencyRatingInline(ReadOnlyForAdmins, admin.TabularInline):
    model = CompetencyRating
    fields = ("competency", "rating")
    extra = 0


@admin.register(Scorecard)
class ScorecardAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    inlines = (CompetencyRatingInline,)
    list_display = ("applicant", "position", "interviewer", "recommendation", "created_at")
    list_select_related = ("applicant__position", "interviewer")
    list_filter = ("recommendation",)
    search_fields = ("applicant__full_name", "applicant__position__title")
    ordering = ("-created_at", "-id")
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("applicant__position", "interviewer")

    @admin.display(description="Position", ordering="applicant__position__title")
    def position(self, scorecard: Scorecard) -> Position:
        return scorecard.applicant.position
