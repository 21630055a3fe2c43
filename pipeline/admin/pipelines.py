"""The admin for pipelines and their stages; new stages are written through ``stage_create``."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from pipeline.models import Pipeline, Stage, StageKind
from pipeline.services import pipeline_check_ready, stage_create
from salesmgr.admin import AdminRoleOnly, adopt


class StageForm(forms.ModelForm):
    """A stage's won/lost uniqueness and kind, checked before the database refuses them."""

    class Meta:
        model = Stage
        fields = ("pipeline", "name", "order", "probability", "kind", "rot_days")

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        adding = self.instance._state.adding
        moved = {"kind", "pipeline"} & set(self.changed_data)
        if not adding and moved and self.instance.deals.exists():
            self.add_error(
                sorted(moved)[0],
                "Deals sit in this stage; move them out before changing its kind or pipeline.",
            )
        elif kind in (StageKind.WON, StageKind.LOST) and (adding or moved):
            # In the pipeline's stage inline this is the parent pipeline, unsaved when new.
            pipeline = cleaned.get("pipeline")
            if pipeline is not None and pipeline.pk is not None:
                others = Stage.objects.filter(pipeline=pipeline, kind=kind).exclude(
                    pk=self.instance.pk
                )
                if others.exists():
                    self.add_error(
                        "kind", f"Pipeline {pipeline.name!r} already has a {kind} stage."
                    )
        return cleaned


class StageFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kinds = [
            form.cleaned_data.get("kind")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        for kind in (StageKind.WON, StageKind.LOST):
            if kinds.count(kind) > 1:
                raise ValidationError(f"A pipeline has at most one {kind} stage.")


class StageInline(AdminRoleOnly, admin.TabularInline):
    model = Stage
    form = StageForm
    formset = StageFormSet
    fields = ("name", "order", "probability", "kind", "rot_days")
    ordering = ("order",)
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "is_active", "stage_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("readiness",)
    fields = ("name", "description", "is_active", "created_at", "readiness")
    inlines = (StageInline,)

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
        """Save the stage inline: new stages through ``stage_create``.

        Deletions and edits go first, so that a stage given up frees its order
        or kind before a new stage takes it.
        """
        changed = formset.save(commit=False)
        for stage in formset.deleted_objects:
            stage.delete()
        for stage in changed:
            if stage.pk is not None:
                stage.save()
        for stage in changed:
            if stage.pk is None:
                stage_create(
                    pipeline=form.instance,
                    name=stage.name,
                    order=stage.order,
                    probability=stage.probability,
                    kind=stage.kind,
                    rot_days=stage.rot_days,
                )


@admin.register(Stage)
class StageAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = StageForm
    list_display = ("name", "pipeline", "order", "probability", "kind", "rot_days")
    list_select_related = ("pipeline",)
    list_filter = ("pipeline", "kind")
    search_fields = ("name", "pipeline__name")
    ordering = ("pipeline__name", "order")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        adopt(
            obj,
            stage_create(
                pipeline=obj.pipeline,
                name=obj.name,
                order=obj.order,
                probability=obj.probability,
                kind=obj.kind,
                rot_days=obj.rot_days,
            ),
        )
