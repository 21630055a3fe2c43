"""Writes to pipelines and their stages."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pipeline.checks.catalog import (
    pipeline_delete_errors,
    stage_add_errors,
    stage_change_errors,
    stage_delete_errors,
)
from pipeline.checks.deals import pipeline_errors
from pipeline.models import Pipeline, Stage, StageKind
from pipeline.services.fields import refuse, set_fields
from salesmgr.models import User

PIPELINE_FIELDS = ("name", "description", "is_active")
STAGE_FIELDS = ("name", "order", "probability", "kind", "rot_days")


def pipeline_check_ready(pipeline: Pipeline) -> None:
    """Raise unless ``pipeline`` can take deals: active, with an open, a won and a lost stage."""
    kinds = set(pipeline.stages.values_list("kind", flat=True).distinct())
    errors = pipeline_errors(
        pipeline_name=pipeline.name, is_active=pipeline.is_active, stage_kinds=kinds
    )
    if errors:
        raise ValidationError(errors)


def pipeline_create(
    *,
    name: str,
    description: str = "",
    is_active: bool = True,
    created_at: datetime.datetime | None = None,
    by: User,
) -> Pipeline:
    """Add a pipeline; it takes deals once it has an open, a won and a lost stage.

    ``created_at`` is for history brought in from elsewhere; it defaults to now.
    """
    pipeline = Pipeline(
        name=name,
        description=description,
        is_active=is_active,
        created_at=created_at or timezone.now(),
    )
    pipeline.full_clean()
    pipeline.save()
    return pipeline


def pipeline_update(*, pipeline: Pipeline, by: User, **changes) -> Pipeline:
    """Rename, describe, archive or reopen ``pipeline``."""
    set_fields(pipeline, changes, PIPELINE_FIELDS)
    pipeline.full_clean()
    pipeline.save(update_fields=list(changes))
    return pipeline


def pipeline_delete(*, pipeline: Pipeline, by: User) -> None:
    """Delete ``pipeline`` with its stages; refused once it has deals (archive it instead)."""
    with transaction.atomic():
        refuse(pipeline_delete_errors(pipeline=pipeline))
        pipeline.delete()


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
    refuse(stage_add_errors(pipeline=pipeline, name=name, order=order, kind=kind))
    stage = Stage(
        pipeline=pipeline,
        name=name,
        order=order,
        probability=probability,
        kind=kind,
        rot_days=rot_days,
    )
    stage.full_clean()
    stage.save()
    return stage


def stage_update(*, stage: Stage, by: User, **changes) -> Stage:
    """Change a stage's name, order, probability, stalled-after days or, until it is used, kind.

    A stage never moves to another pipeline.
    """
    with transaction.atomic():
        refuse(stage_change_errors(stage=stage, changes=changes))
        changes.pop("pipeline", None)
        set_fields(stage, changes, STAGE_FIELDS)
        stage.full_clean()
        stage.save(update_fields=list(changes))
    return stage


def stage_reorder(*, pipeline: Pipeline, stage_ids: list[int], by: User) -> list[Stage]:
    """Put every stage of ``pipeline`` in the order of ``stage_ids``.

    The stages keep the order numbers they had between them, handed out afresh;
    they step aside to numbers above them first, since no two may share one.
    """
    with transaction.atomic():
        current = list(pipeline.stages.select_for_update().order_by("order"))
        if sorted(stage_ids) != sorted(stage.pk for stage in current):
            raise ValidationError({"stages": "List every stage of this pipeline once."})
        numbers = [stage.order for stage in current]
        above = numbers[-1] + 1
        for offset, stage in enumerate(current):
            stage.order = above + offset
        Stage.objects.bulk_update(current, ["order"])
        by_pk = {stage.pk: stage for stage in current}
        ordered = [by_pk[pk] for pk in stage_ids]
        for number, stage in zip(numbers, ordered, strict=True):
            stage.order = number
        Stage.objects.bulk_update(ordered, ["order"])
    return ordered


def stage_delete(*, stage: Stage, by: User) -> None:
    """Delete ``stage``; refused once a deal has been in it."""
    with transaction.atomic():
        refuse(stage_delete_errors(stage=stage))
        stage.delete()
