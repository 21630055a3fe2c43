"""Reference data: pipelines, stages, products and lost reasons. Everyone reads; admins write."""

from collections.abc import Callable

import django_filters
from django.db import transaction
from django.db.models import Model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from pipeline.checks.catalog import (
    lost_reason_delete_errors,
    pipeline_delete_errors,
    product_delete_errors,
    stage_add_errors,
    stage_change_errors,
    stage_delete_errors,
)
from pipeline.models import LostReason, Pipeline, Product, Stage, StageKind
from pipeline.selectors import (
    lost_reasons_visible_to,
    pipelines_visible_to,
    products_visible_to,
    stages_visible_to,
)
from pipeline.services import (
    lost_reason_create,
    lost_reason_delete,
    lost_reason_update,
    pipeline_create,
    pipeline_delete,
    pipeline_update,
    product_create,
    product_delete,
    product_update,
    stage_create,
    stage_delete,
    stage_reorder,
    stage_update,
)
from salesmgr.api.base import IdFilter, ScopedViewSet, VisiblePrimaryKeyRelatedField


class ReferenceViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Readable by everyone, written by admins (the ScopedViewSet default), through the services.

    A subclass names its services and the check that refuses a delete; the
    check runs first so that its refusal answers under ``detail``.
    """

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    entity: str
    create_service: Callable[..., Model]
    update_service: Callable[..., Model]
    delete_service: Callable[..., None]
    delete_errors: Callable[..., dict[str, str]]

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(
            **serializer.validated_data, by=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = type(self).update_service(
            **{self.entity: serializer.instance}, **serializer.validated_data, by=self.request.user
        )

    def perform_destroy(self, instance):
        errors = type(self).delete_errors(**{self.entity: instance})
        if errors:
            raise serializers.ValidationError(errors)
        type(self).delete_service(**{self.entity: instance}, by=self.request.user)


class StageSerializer(serializers.ModelSerializer):
    pipeline = VisiblePrimaryKeyRelatedField(selector=pipelines_visible_to)
    probability = serializers.IntegerField(min_value=0, max_value=100)
    order = serializers.IntegerField(min_value=0, max_value=32767)
    rot_days = serializers.IntegerField(
        min_value=1, max_value=32767, required=False, allow_null=True
    )

    class Meta:
        model = Stage
        fields = ["id", "pipeline", "name", "order", "probability", "kind", "rot_days"]
        validators = []  # uniqueness is checked below with messages that name the field

    def validate(self, attrs):
        if self.instance is None:
            errors = stage_add_errors(
                pipeline=attrs["pipeline"],
                name=attrs["name"],
                order=attrs["order"],
                kind=attrs.get("kind", StageKind.OPEN),
            )
        else:
            errors = stage_change_errors(stage=self.instance, changes=attrs)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class PipelineSerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)
    takes_deals = serializers.SerializerMethodField()

    class Meta:
        model = Pipeline
        fields = ["id", "name", "description", "is_active", "created_at", "stages", "takes_deals"]
        read_only_fields = ["created_at"]

    def get_takes_deals(self, pipeline) -> bool:
        kinds = {stage.kind for stage in pipeline.stages.all()}
        return pipeline.is_active and kinds >= {StageKind.OPEN, StageKind.WON, StageKind.LOST}


class StageOrderSerializer(serializers.Serializer):
    stages = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=1000
    )


class PipelineViewSet(ReferenceViewSet):
    """Sales processes with their ordered stages."""

    selector = pipelines_visible_to
    serializer_class = PipelineSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "id", "created_at"]
    ordering = ["name"]

    entity = "pipeline"
    create_service = pipeline_create
    update_service = pipeline_update
    delete_service = pipeline_delete
    delete_errors = pipeline_delete_errors

    def shape(self, queryset):
        return queryset.prefetch_related("stages")

    @extend_schema(
        summary="Put the pipeline's stages in a new order (admins)",
        request=StageOrderSerializer,
        responses=PipelineSerializer,
    )
    @action(detail=True, methods=["post"])
    def reorder(self, request, pk=None):
        pipeline = self.get_object()
        body = StageOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        stage_reorder(pipeline=pipeline, stage_ids=body.validated_data["stages"], by=request.user)
        return Response(self.get_serializer(self.get_object()).data)


class StageFilter(django_filters.FilterSet):
    pipeline = IdFilter(field_name="pipeline_id")
    kind = django_filters.ChoiceFilter(choices=StageKind.choices)


class StageViewSet(ReferenceViewSet):
    """The stages of every pipeline, in order."""

    selector = stages_visible_to
    serializer_class = StageSerializer
    filterset_class = StageFilter
    ordering_fields = ["order", "id", "name"]
    ordering = ["pipeline_id", "order"]

    entity = "stage"
    update_service = stage_update
    delete_service = stage_delete
    delete_errors = stage_delete_errors

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.instance = stage_create(**serializer.validated_data)


class ProductSerializer(serializers.ModelSerializer):
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)

    class Meta:
        model = Product
        fields = ["id", "name", "sku", "unit_price", "is_active"]


class ProductViewSet(ReferenceViewSet):
    """What is sold."""

    selector = products_visible_to
    serializer_class = ProductSerializer
    filterset_fields = ["is_active"]
    search_fields = ["name", "sku"]
    ordering_fields = ["name", "sku", "unit_price", "id"]
    ordering = ["name"]
    entity = "product"
    create_service = product_create
    update_service = product_update
    delete_service = product_delete
    delete_errors = product_delete_errors


class LostReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = LostReason
        fields = ["id", "name", "is_active"]


class LostReasonViewSet(ReferenceViewSet):
    """Why deals are lost; kept by admins."""

    selector = lost_reasons_visible_to
    serializer_class = LostReasonSerializer
    filterset_fields = ["is_active"]
    search_fields = ["name"]
    ordering_fields = ["name", "id"]
    ordering = ["name"]
    entity = "lost_reason"
    create_service = lost_reason_create
    update_service = lost_reason_update
    delete_service = lost_reason_delete
    delete_errors = lost_reason_delete_errors
