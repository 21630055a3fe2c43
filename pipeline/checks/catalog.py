"""Rules for pipelines, stages, products and lost reasons.

Each check returns ``{field: message}``, empty when the write is allowed;
the deletion checks name no field and answer under ``"detail"``.
"""

from collections.abc import Mapping

from pipeline.models import LostReason, Pipeline, Product, Stage, StageKind

STAGE_STAYS_IN_PIPELINE = "A stage cannot move to another pipeline."
STAGE_KIND_FIXED = "Deals sit in this stage or have moved through it; its kind cannot change."
STAGE_IN_USE = "Deals sit in this stage or have moved through it; it cannot be deleted."
STAGE_ORDER_TAKEN = "Another stage of this pipeline has this order."
STAGE_NAME_TAKEN = "Another stage of this pipeline has this name."
PIPELINE_IN_USE = "This pipeline has deals; archive it (is_active false) instead."
PRODUCT_IN_USE = "Deals include this product; deactivate it instead."
LOST_REASON_IN_USE = "Deals were lost for this reason; deactivate it instead."


def stage_kind_taken(kind: str) -> str:
    """The one wording for a second won or lost stage in a pipeline."""
    return f"This pipeline already has a {kind} stage."


def stage_is_used(stage: Stage) -> bool:
    """Whether a deal (deleted ones too) sits in ``stage`` or ever moved into it.

    A deal's status mirrors its stage's kind and the metrics read past moves by
    kind, so a used stage keeps its kind and is never deleted.
    """
    return stage.deals.exists() or stage.transitions_in.exists()


def stage_add_errors(*, pipeline: Pipeline, name: str, order: int, kind: str) -> dict[str, str]:
    """What refuses a new stage in ``pipeline``."""
    if pipeline.pk is None:
        return {}
    return _stage_clashes(
        pipeline=pipeline, stage=None, changes={"name": name, "order": order, "kind": kind}
    )


def stage_change_errors(*, stage: Stage, changes: Mapping[str, object]) -> dict[str, str]:
    """What refuses ``changes`` to ``stage``: it keeps its pipeline, and its kind once used."""
    errors = {}
    pipeline = changes.get("pipeline", stage.pipeline)
    if pipeline is not None and pipeline.pk != stage.pipeline_id:
        errors["pipeline"] = STAGE_STAYS_IN_PIPELINE
    if changes.get("kind", stage.kind) != stage.kind and stage_is_used(stage):
        errors["kind"] = STAGE_KIND_FIXED
    for field, message in _stage_clashes(
        pipeline=stage.pipeline, stage=stage, changes=changes
    ).items():
        errors.setdefault(field, message)
    return errors


def stage_delete_errors(*, stage: Stage) -> dict[str, str]:
    """What refuses deleting ``stage``."""
    return {"detail": STAGE_IN_USE} if stage_is_used(stage) else {}


def _stage_clashes(
    *, pipeline: Pipeline, stage: Stage | None, changes: Mapping[str, object]
) -> dict[str, str]:
    """Which of the changed name, order and won/lost kind another stage of ``pipeline`` holds."""
    others = pipeline.stages.all()
    if stage is not None:
        others = others.exclude(pk=stage.pk)
    errors = {}
    kind = changes.get("kind")
    if kind in (StageKind.WON, StageKind.LOST) and others.filter(kind=kind).exists():
        errors["kind"] = stage_kind_taken(kind)
    if "order" in changes and others.filter(order=changes["order"]).exists():
        errors["order"] = STAGE_ORDER_TAKEN
    if "name" in changes and others.filter(name=changes["name"]).exists():
        errors["name"] = STAGE_NAME_TAKEN
    return errors


def pipeline_delete_errors(*, pipeline: Pipeline) -> dict[str, str]:
    """What refuses deleting ``pipeline``: deals, deleted ones too, keep it."""
    return {"detail": PIPELINE_IN_USE} if pipeline.deals.exists() else {}


def product_delete_errors(*, product: Product) -> dict[str, str]:
    """What refuses deleting ``product``: a deal's line item names it."""
    return {"detail": PRODUCT_IN_USE} if product.line_items.exists() else {}


def lost_reason_delete_errors(*, lost_reason: LostReason) -> dict[str, str]:
    """What refuses deleting ``lost_reason``: a deal was lost for it."""
    return {"detail": LOST_REASON_IN_USE} if lost_reason.deals.exists() else {}
