"""The pipeline's REST resources."""

from pipeline.api.accounts import AccountViewSet, ActivityViewSet, ContactViewSet
from pipeline.api.catalog import LostReasonViewSet, PipelineViewSet, ProductViewSet, StageViewSet
from pipeline.api.deals import DealViewSet

__all__ = [
    "AccountViewSet",
    "ActivityViewSet",
    "ContactViewSet",
    "DealViewSet",
    "LostReasonViewSet",
    "PipelineViewSet",
    "ProductViewSet",
    "StageViewSet",
]
