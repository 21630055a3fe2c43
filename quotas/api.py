"""Territories and quotas over REST. Everyone reads what they may see; admins write."""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from quotas.checks import territory_delete_errors
from quotas.models import HandoverRule, ManagerTarget, Quota, QuotaPeriod, TargetBasis, Territory
from quotas.selectors import manager_targets_visible_to, quotas_visible_to, territories_visible_to
from quotas.services import (
    UploadRefused,
    manager_target_clear,
    manager_target_set,
    quota_delete,
    quota_set,
    quotas_upload,
    territory_create,
    territory_delete,
    territory_update,
)
from salesmgr.api.base import (
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    require_json_types,
)
from salesmgr.models import User
from salesmgr.selectors import users_visible_to


class TerritorySerializer(serializers.ModelSerializer):
    parent = VisiblePrimaryKeyRelatedField(
        selector=territories_visible_to, required=False, allow_null=True
    )
    parent_name = serializers.CharField(source="parent.name", read_only=True, allow_null=True)
    reps = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, many=True, required=False, help_text="Members: reps only."
    )
    owner = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, required=False, allow_null=True, help_text="A manager."
    )
    named_rep = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, required=False, allow_null=True
    )
    handover_rule = serializers.ChoiceField(choices=HandoverRule.choices, required=False)

    class Meta:
        model = Territory
        fields = [
            "id",
            "name",
            "parent",
            "parent_name",
            "region",
            "owner",
            "reps",
            "handover_rule",
            "named_rep",
        ]


class TerritoryFilter(django_filters.FilterSet):
    parent = IdFilter(field_name="parent_id")


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class TerritoryViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Territories (a tree through ``parent``) and the reps assigned to each."""

    selector = territories_visible_to
    serializer_class = TerritorySerializer
    filterset_class = TerritoryFilter
    search_fields = ["name", "region"]
    ordering_fields = ["name", "id"]
    ordering = ["name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def shape(self, queryset):
        return queryset.select_related("parent").prefetch_related(
            Prefetch("reps", queryset=User.objects.only("pk"))
        )

    def perform_create(self, serializer):
        serializer.instance = territory_create(**serializer.validated_data, by=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = territory_update(
            territory=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        errors = territory_delete_errors(territory=instance)
        if errors:
            raise serializers.ValidationError(errors)
        territory_delete(territory=instance, by=self.request.user)


class QuotaSerializer(serializers.ModelSerializer):
    owner = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    target = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    period = serializers.ChoiceField(choices=QuotaPeriod.choices, default=QuotaPeriod.MONTH)

    class Meta:
        model = Quota
        fields = ["id", "owner", "owner_name", "period", "period_start", "period_end", "target"]
        validators = []  # quota_set refuses overlaps and backwards periods with a clear message


class QuotaFilter(django_filters.FilterSet):
    owner = IdFilter(field_name="owner_id")

    class Meta:
        model = Quota
        fields = {"period": ["exact"], "period_start": ["gte", "lte"]}


MAX_UPLOAD_ROWS = 2000


class QuotaUploadRow(serializers.Serializer):
    owner = serializers.CharField(
        help_text="The owner's username or e-mail.", allow_blank=True, max_length=254
    )
    period_start = serializers.CharField(help_text="YYYY-MM-DD.", allow_blank=True, max_length=40)
    period_end = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text="YYYY-MM-DD; or give period."
    )
    period = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text="month, quarter or year."
    )
    target = serializers.CharField(
        help_text='A number as a string, e.g. "12500.00".', allow_blank=True, max_length=40
    )


class QuotaUpload(serializers.Serializer):
    rows = QuotaUploadRow(many=True, max_length=MAX_UPLOAD_ROWS, allow_empty=False)
    dry_run = serializers.BooleanField(
        default=False, help_text="Check every row and write nothing."
    )


class QuotaUploadResult(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField(
        help_text="Rows that replaced a quota over exactly the same period."
    )
    dry_run = serializers.BooleanField()


class QuotaUploadError(serializers.Serializer):
    row = serializers.IntegerField(help_text="Numbered from 1.")
    field = serializers.CharField()
    message = serializers.CharField()


class QuotaUploadErrors(serializers.Serializer):
    errors = QuotaUploadError(many=True)


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class QuotaViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Targets per person and period; a person's periods never overlap."""

    selector = quotas_visible_to
    serializer_class = QuotaSerializer
    filterset_class = QuotaFilter
    ordering_fields = ["period_start", "target", "id"]
    ordering = ["owner_id", "period_start"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def shape(self, queryset):
        return queryset.select_related("owner")

    def perform_create(self, serializer):
        serializer.instance = quota_set(**serializer.validated_data)

    def perform_update(self, serializer):
        quota = serializer.instance
        data = {
            field: serializer.validated_data.get(field, getattr(quota, field))
            for field in ("owner", "period", "period_start", "period_end", "target")
        }
        serializer.instance = quota_set(quota=quota, **data)

    def perform_destroy(self, instance):
        quota_delete(quota=instance, by=self.request.user)

    @extend_schema(
        request=QuotaUpload,
        responses={
            200: QuotaUploadResult,
            400: OpenApiResponse(
                QuotaUploadErrors,
                description="Each bad row by number, field and reason; nothing written.",
            ),
        },
        summary="Upload many quotas: all or none (dry_run checks only)",
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request):
        payload = QuotaUpload(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            result = quotas_upload(
                rows=[dict(row) for row in data["rows"]], by=request.user, dry_run=data["dry_run"]
            )
        except UploadRefused as refused:
            errors = [
                {"row": e.row, "field": e.field, "message": e.message} for e in refused.errors
            ]
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(QuotaUploadResult(result).data)


class ManagerTargetSerializer(serializers.ModelSerializer):
    manager = VisiblePrimaryKeyRelatedField(selector=users_visible_to, help_text="A manager.")
    manager_name = serializers.CharField(source="manager.display_name", read_only=True)
    basis = serializers.ChoiceField(
        choices=TargetBasis.choices,
        help_text="rollup: the sum of the team's quotas; own: the manager's own quota.",
    )

    class Meta:
        model = ManagerTarget
        fields = ["manager", "manager_name", "basis"]

    def validate_manager(self, manager: User) -> User:
        if ManagerTarget.objects.filter(manager=manager).exists():
            raise serializers.ValidationError(
                "This manager's choice is already set; change it with PATCH."
            )
        return manager


class ManagerTargetChange(serializers.Serializer):
    basis = serializers.ChoiceField(choices=TargetBasis.choices)


@extend_schema_view(
    list=extend_schema(
        summary="Managers' choices of team target (no row: own quota where set, else roll-up)"
    ),
    destroy=extend_schema(summary="Forget a manager's choice", responses={204: None}),
    partial_update=extend_schema(request=ManagerTargetChange),
)
class ManagerTargetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Whether a manager's team target is the roll-up of their team's quotas or their own quota, keyed by
    the manager's id."""

    selector = manager_targets_visible_to
    serializer_class = ManagerTargetSerializer
    ordering_fields = ["manager_id"]
    ordering = ["manager_id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def shape(self, queryset):
        return queryset.select_related("manager")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = manager_target_set(
            manager=data["manager"], basis=data["basis"], by=self.request.user
        )

    def partial_update(self, request, *args, **kwargs):
        setting = self.get_object()
        change = ManagerTargetChange(data=request.data)
        require_json_types(change)
        change.is_valid(raise_exception=True)
        setting = manager_target_set(
            manager=setting.manager, basis=change.validated_data["basis"], by=request.user
        )
        return Response(ManagerTargetSerializer(setting).data)

    def perform_destroy(self, instance):
        manager_target_clear(manager=instance.manager, by=self.request.user)
