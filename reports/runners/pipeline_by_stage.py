"""A scope's open deals per stage."""

from dataclasses import dataclass

from django.db.models import Count, Sum
from django.utils import timezone

from pipeline.models import StageKind
from pipeline.money import converted
from pipeline.scopes import Scope
from reports.metrics import deal_rows


@dataclass(frozen=True)
class PipelineByStageRunner:
    """Open deals of a scope per stage, in pipeline order: how many and their value in the
    reporting currency at today's rates (one grouped query)."""

    scope: Scope

    def run(self) -> list[dict]:
        return list(
            deal_rows(self.scope)
            .filter(status=StageKind.OPEN)
            .values(
                "stage_id", "stage__name", "stage__order", "stage__probability", "pipeline__name"
            )
            .annotate(deals=Count("id"), value=Sum(converted(on=timezone.localdate())))
            .order_by("pipeline__name", "stage__order")
        )
