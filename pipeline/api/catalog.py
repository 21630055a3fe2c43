"""Reference data: pipelines, stages, products and lost reasons. Everyone reads; admins write."""

import django_filters
from django.db import transaction
from rest_framework import serializers, viewsets

from pipeline.models import LostReason, Pipeline, Product, Stage, StageKind
from pipeline.selectors import (
    lost_reasons_visible_to,
    pipelines_visible_to,
    products_visible_to,
    stages_visible_to,
)
from pipeline.services import stage_create
from salesmgr.api.base import IdFilter, ScopedViewSet, VisiblePrimaryKeyRelatedField


class ReferenceViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Readable by everyone, written by admins (the ScopedViewSet default)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"


class StageSerializer(serializers.ModelSerializer):
    pipeline = VisiblePrimaryKeyRelatedField(selector=pipelines_visible_to)
    probability = serializers.IntegerField(min_value=0, max_value=100)
    order = serializers.IntegerField(min_value=0, max_value=32767)
    rot_days = serializers.IntegerField(min_value=1, max_value=32767, required=False, allow_null=True)

    class Meta:
        model = Stage
        fields = ["id", "pipeline", "name", "order", "probability", "kind", "rot_days"]
        validators = []  # uniqueness is checked below with messages that name the field

    def validate(self, attrs):
        pipeline = attrs.get("pipeline", getattr(self.instance, "pipeline", None))
        others = Stage.objects.filter(pipeline=pipeline)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
            if "pipeline" in attrs and attrs["pipeline"] != self.instance.pipeline:
                raise serializers.ValidationError({"pipeline": "A stage cannot move to another pipeline."})
        kind = attrs.get("kind", getattr(self.instance, "kind", StageKind.OPEN))
        if self.instance is not None and kind != self.instance.kind and self._has_been_used(self.instance):
            # A deal's status mirrors its stage's kind, and metrics read past moves by kind.
            raise serializers.ValidationError({"kind": "Deals have been in this stage; its kind cannot change."})
        if kind != StageKind.OPEN and others.filter(kind=kind).exists():
            raise serializers.ValidationError({"kind": f"This pipeline already has a {kind} stage."})
        if "order" in attrs and others.filter(order=attrs["order"]).exists():
            raise serializers.ValidationError({"order": "Another stage of this pipeline has this order."})
        if "name" in attrs and others.filter(name=attrs["name"]).exists():
            raise serializers.ValidationError({"name": "Another stage of this pipeline has this name."})
        return attrs

    @staticmethod
    def _has_been_used(stage: Stage) -> bool:
        return stage.deals.exists() or stage.transitions_in.exists()


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


class PipelineViewSet(ReferenceViewSet):
    """Sales processes with their ordered stages."""

    selector = pipelines_visible_to
    serializer_class = PipelineSerializer
    search_fields = ["name"]
    ordering_fields = ["name", "id", "created_at"]
    ordering = ["name"]

    def shape(self, queryset):
        return queryset.prefetch_related("stages")

    def perform_destroy(self, instance):
        if instance.deals.exists():
            raise serializers.ValidationError({"detail": "This pipeline has deals; archive it (is_active false)."})
        instance.delete()


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

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.instance = stage_create(**serializer.validated_data)

    def perform_destroy(self, instance):
        if instance.deals.exists() or instance.transitions_in.exists():
            raise serializers.ValidationError({"detail": "Deals have been in this stage; it cannot be deleted."})
        instance.delete()


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

    def perform_destroy(self, instance):
        if instance.line_items.exists():
            raise serializers.ValidationError({"detail": "Deals include this product; deactivate it instead."})
        instance.delete()


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

    def perform_destroy(self, instance):
        if instance.deals.exists():
            raise serializers.ValidationError({"detail": "Deals were lost for this reason; deactivate it instead."})
        instance.delete()
