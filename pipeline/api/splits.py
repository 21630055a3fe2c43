"""A deal's split credit over REST: ``GET``/``POST /api/v1/deals/{id}/splits/``."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from pipeline.models import DealSplit
from pipeline.selectors import deal_splits
from pipeline.services import SplitSpec, deal_splits_set
from salesmgr.api.base import VisiblePrimaryKeyRelatedField, require_json_types
from salesmgr.selectors import users_visible_to


class DealSplitSerializer(serializers.ModelSerializer):
    rep = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)
    share = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text='Percent of the credit, e.g. "60.00".'
    )

    class Meta:
        model = DealSplit
        fields = ["rep", "rep_name", "share"]


class DealSplitsSerializer(serializers.Serializer):
    splits = DealSplitSerializer(
        many=True, help_text="Shares summing to 100; an empty list gives the owner all the credit."
    )


class DealSplitsMixin:
    """The ``splits`` action of the deals viewset."""

    @extend_schema(
        summary="Who shares a deal's credit (POST: replace; managers of the owner and admins)",
        request=DealSplitsSerializer,
        responses=DealSplitsSerializer,
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def splits(self, request, pk=None):
        deal = self.get_object()
        if request.method == "POST":
            body = DealSplitsSerializer(data=request.data, context={"request": request})
            require_json_types(body)
            body.is_valid(raise_exception=True)
            deal_splits_set(
                deal=deal,
                splits=[
                    SplitSpec(rep=row["rep"], share=row["share"])
                    for row in body.validated_data["splits"]
                ],
                by=request.user,
            )
        rows = deal_splits(deal)
        return Response(DealSplitsSerializer({"splits": rows}, context={"request": request}).data)
