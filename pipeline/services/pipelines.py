"""Writes to pipelines and stages."""

from django.core.exceptions import ValidationError

from pipeline.checks.deals import pipeline_errors
from pipeline.models import Pipeline, Stage, StageKind


def pipeline_check_ready(pipeline: Pipeline) -> None:
    """Raise unless ``pipeline`` can take deals: active, with an open, a won and a lost stage."""
    kinds = set(pipeline.stages.values_list("kind", flat=True).distinct())
    errors = pipeline_errors(pipeline_name=pipeline.name, is_active=pipeline.is_active, stage_kinds=kinds)
    if errors:
        raise ValidationError(errors)


def stage_create(
    *,
    pipeline: Pipeline,
    name: str,
    order: int,
    probability: int,
    kind: str = StageKind.OPEN,
    rot_days: int | None = None,
) -> Stage:
    """Add a stage; a pipeline keeps at most one won and one lost stage."""
    if kind != StageKind.OPEN and pipeline.stages.filter(kind=kind).exists():
        raise ValidationError({"kind": f"Pipeline {pipeline.name!r} already has a {kind} stage."})
    stage = Stage(pipeline=pipeline, name=name, order=order, probability=probability, kind=kind, rot_days=rot_days)
    stage.full_clean()
    stage.save()
    return stage
