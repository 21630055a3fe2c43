"""The pipeline's REST resources."""

from pipeline.api.accounts import AccountViewSet, ActivityViewSet, ContactViewSet
from pipeline.api.catalog import LostReasonViewSet, PipelineViewSet, ProductViewSet, StageViewSet
from pipeline.api.deals import DealViewSet
from pipeline.api.rates import ExchangeRateViewSet

__all__ = [
    "AccountViewSet",
    "ActivityViewSet",
    "ContactViewSet",
    "DealViewSet",
    "ExchangeRateViewSet",
    "LostReasonViewSet",
    "PipelineViewSet",
    "ProductViewSet",
    "StageViewSet",
]
