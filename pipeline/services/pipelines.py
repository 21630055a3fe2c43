"""Writes to pipelines and stages."""

from django.core.exceptions import ValidationError
from django.db.models import Count, Q

from pipeline.models import Pipeline, Stage, StageKind


def pipeline_check_ready(pipeline: Pipeline) -> None:
    """Raise unless ``pipeline`` can take deals: an open, a won and a lost stage."""
    counts = pipeline.stages.aggregate(
        open=Count("pk", filter=Q(kind=StageKind.OPEN)),
        won=Count("pk", filter=Q(kind=StageKind.WON)),
        lost=Count("pk", filter=Q(kind=StageKind.LOST)),
    )
    missing = [kind for kind in ("open", "won", "lost") if not counts[kind]]
    if missing:
        raise ValidationError(
            {"pipeline": f"Pipeline {pipeline.name!r} takes no deals until it has a {' and a '.join(missing)} stage."}
        )
    if not pipeline.is_active:
        raise ValidationError({"pipeline": f"Pipeline {pipeline.name!r} is archived."})


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
