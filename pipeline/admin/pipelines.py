"""The admin for pipelines and their stages, written through the pipeline and stage services."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from pipeline.admin.shared import ServiceWrites
from pipeline.checks.catalog import (
    pipeline_delete_errors,
    stage_add_errors,
    stage_change_errors,
    stage_delete_errors,
    stage_kind_taken,
)
from pipeline.models import Pipeline, Stage, StageKind
from pipeline.services import (
    pipeline_check_ready,
    pipeline_create,
    pipeline_delete,
    pipeline_update,
    stage_create,
    stage_delete,
    stage_update,
)
from pipeline.services.pipelines import PIPELINE_FIELDS, STAGE_FIELDS
from salesmgr.admin import AdminRoleOnly, adopt, with_refusals
from salesmgr.models import User


class StageForm(forms.ModelForm):
    """A stage, checked by the catalog rules so that a refusal is a form error."""

    class Meta:
        model = Stage
        fields = ("pipeline", "name", "order", "probability", "kind", "rot_days")
        labels = {"rot_days": "Stalled after (days)"}
        help_texts = {
            "rot_days": (
                "Stalled after N days in this stage: a deal that sits here longer is "
                "marked stalled. Leave empty to never mark it."
            )
        }

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is not None:
            changes = {field: cleaned[field] for field in self.changed_data if field in cleaned}
            errors = stage_change_errors(stage=self.instance, changes=changes)
        elif all(cleaned.get(field) is not None for field in ("pipeline", "name", "order")):
            errors = stage_add_errors(
                pipeline=cleaned["pipeline"],
                name=cleaned["name"],
                order=cleaned["order"],
                kind=cleaned.get("kind") or StageKind.OPEN,
            )
        else:
            errors = {}
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


class StageFormSet(BaseInlineFormSet):
    """The stages of one pipeline: at most one won and one lost among them, and none deleted once used."""

    def clean(self):
        super().clean()
        kinds = [
            form.cleaned_data.get("kind")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        errors = [
            stage_kind_taken(kind)
            for kind in (StageKind.WON, StageKind.LOST)
            if kinds.count(kind) > 1
        ]
        for form in self.deleted_forms:
            if form.instance.pk is not None:
                errors.extend(stage_delete_errors(stage=form.instance).values())
        if errors:
            raise ValidationError(errors)


class StageInline(AdminRoleOnly, admin.TabularInline):
    model = Stage
    form = StageForm
    formset = StageFormSet
    fields = ("name", "order", "probability", "kind", "rot_days")
    ordering = ("order",)
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(ServiceWrites, AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "is_active", "stage_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("readiness",)
    fields = ("name", "description", "is_active", "created_at", "readiness")
    inlines = (StageInline,)
    entity = "pipeline"
    written_fields = PIPELINE_FIELDS
    create_service = pipeline_create
    update_service = pipeline_update
    delete_service = pipeline_delete
    delete_errors = pipeline_delete_errors

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(stage_count=Count("stages"))

    @admin.display(description="Stages", ordering="stage_count")
    def stage_count(self, pipeline: Pipeline) -> int:
        return pipeline.stage_count

    @admin.display(description="Takes deals")
    def readiness(self, pipeline: Pipeline) -> str:
        if pipeline.pk is None:
            return "Not until it has an open, a won and a lost stage."
        try:
            pipeline_check_ready(pipeline)
        except ValidationError as exc:
            return " ".join(exc.messages)
        return "Yes"

    def save_formset(self, request, form, formset, change):
        """Save the stage inline through the stage services.

        Deletions and edits go first, so that a stage given up frees its order
        or kind before a new stage takes it.
        """
        formset.save(commit=False)
        for stage in formset.deleted_objects:
            stage_delete(stage=stage, by=request.user)
        for stage, fields in formset.changed_objects:
            _update_stage(stage, fields, by=request.user)
        for stage in formset.new_objects:
            _create_stage(stage, pipeline=form.instance)


@admin.register(Stage)
class StageAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = StageForm
    list_display = ("name", "pipeline", "order", "probability", "kind", "stalled_after")
    list_select_related = ("pipeline",)
    list_filter = ("pipeline", "kind")
    search_fields = ("name", "pipeline__name")
    ordering = ("pipeline__name", "order")

    @admin.display(description="Stalled after (days)", ordering="rot_days")
    def stalled_after(self, stage: Stage) -> int | None:
        return stage.rot_days

    def get_readonly_fields(self, request, obj=None):
        return ("pipeline",) if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            adopt(obj, _update_stage(obj, form.changed_data, by=request.user))
        else:
            adopt(obj, _create_stage(obj, pipeline=obj.pipeline))

    def get_deleted_objects(self, objs, request):
        refusals = [
            f"{stage}: {message}"
            for stage in objs
            for message in stage_delete_errors(stage=stage).values()
        ]
        return with_refusals(super().get_deleted_objects(objs, request), refusals)

    def delete_model(self, request, obj):
        stage_delete(stage=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for stage in queryset:
            stage_delete(stage=stage, by=request.user)


def _create_stage(stage: Stage, *, pipeline: Pipeline) -> Stage:
    """Write the new stage the form built."""
    return stage_create(
        pipeline=pipeline,
        name=stage.name,
        order=stage.order,
        probability=stage.probability,
        kind=stage.kind,
        rot_days=stage.rot_days,
    )


def _update_stage(stage: Stage, fields: list[str], *, by: User) -> Stage:
    """Write the changed ``fields`` of the stage the form edited.

    The service checks against the stored row, since the form has already set
    the new values on ``stage``.
    """
    changes = {field: getattr(stage, field) for field in fields if field in STAGE_FIELDS}
    return stage_update(stage=Stage.objects.get(pk=stage.pk), by=by, **changes)
