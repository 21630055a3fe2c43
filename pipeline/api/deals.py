"""The deals resource: list, read, create, update, move, history, soft delete."""

from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from pipeline.api.bulk import BulkErrors, BulkRequest, BulkResult
from pipeline.api.bulk import bulk as bulk_deals
from pipeline.api.deal_list import (
    EXPAND_PARAM,
    DealListPagination,
    DealRowBaseSerializer,
    deal_list_answer,
)
from pipeline.api.splits import DealSplitsMixin
from pipeline.checks.deals import (
    deal_field_errors,
    line_item_errors,
    lost_reason_errors,
    merge_errors,
)
from pipeline.filters import DealFilter
from pipeline.models import Deal, DealLineItem, ForecastCategory, StageTransition
from pipeline.selectors import (
    DEAL_LIST_SORTS,
    accounts_visible_to,
    deal_history,
    deal_transitions,
    deals_visible_to,
    history_entries,
    lost_reasons_visible_to,
    pipelines_visible_to,
    products_visible_to,
    stages_visible_to,
)
from pipeline.services import (
    LineItemSpec,
    deal_create,
    deal_delete,
    deal_edit,
    deal_move,
    deal_restore,
)
from salesmgr.api.base import (
    ADMINS,
    EVERYONE,
    ConflictSerializer,
    IdempotentCreateMixin,
    PreconditionFailed,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    query_flag,
    require_json_types,
)
from salesmgr.errors import ConflictError
from salesmgr.selectors import users_visible_to


def etag_of(deal: Deal) -> str:
    return f'"{deal.pk}.{deal.version}"'


_RELATIONS = ("account", "owner", "pipeline", "stage", "lost_reason")


def _written_once_since(read: Deal, written: Deal) -> bool:
    """Whether ``written`` is ``read`` after just one write (ours): what that write left alone
    (relations, line items) can be answered from ``read`` instead of read again."""
    return written.version == read.version + 1


def _relations_from(read: Deal, written: Deal) -> None:
    """Give ``written`` the related records ``read`` holds for the ids it still has; a relation
    the write set (a new account or owner, the move's stage) keeps the record it was given."""
    for name in _RELATIONS:
        field = Deal._meta.get_field(name)
        if not field.is_cached(written) and getattr(written, field.attname) == getattr(
            read, field.attname
        ):
            field.set_cached_value(written, getattr(read, name))


class LineItemSerializer(serializers.ModelSerializer):
    product = VisiblePrimaryKeyRelatedField(selector=products_visible_to)
    product_name = serializers.CharField(source="product.name", read_only=True)
    unit_price = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="Defaults to the list price.",
    )
    quantity = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    discount_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, default=0
    )
    total = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = DealLineItem
        fields = ["product", "product_name", "quantity", "unit_price", "discount_pct", "total"]

    def validate(self, attrs):
        unit_price = attrs.get("unit_price")
        errors = line_item_errors(
            product_active=attrs["product"].is_active,
            quantity=attrs["quantity"],
            unit_price=attrs["product"].unit_price if unit_price is None else unit_price,
            discount_pct=Decimal(attrs.get("discount_pct", 0)),
        )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class DealSerializer(serializers.ModelSerializer):
    account = VisiblePrimaryKeyRelatedField(selector=accounts_visible_to)
    account_name = serializers.CharField(source="account.name", read_only=True)
    owner = VisiblePrimaryKeyRelatedField(selector=users_visible_to, required=False)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    pipeline = VisiblePrimaryKeyRelatedField(selector=pipelines_visible_to)
    pipeline_name = serializers.CharField(source="pipeline.name", read_only=True)
    stage = VisiblePrimaryKeyRelatedField(
        selector=stages_visible_to,
        required=False,
        help_text="On create only; later use the move endpoint.",
    )
    stage_name = serializers.CharField(source="stage.name", read_only=True)
    lost_reason = VisiblePrimaryKeyRelatedField(
        selector=lost_reasons_visible_to, required=False, allow_null=True
    )
    lost_reason_name = serializers.CharField(
        source="lost_reason.name", read_only=True, allow_null=True
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", max_length=3, required=False)
    line_items = LineItemSerializer(many=True, required=False)
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="On update: the version you last read (or send If-Match). A stale one answers 409.",
    )
    external_id = serializers.CharField(
        max_length=120,
        required=False,
        allow_null=True,
        allow_blank=False,
        help_text="Its id in another system: unique among its owner's live deals.",
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "name",
            "account",
            "account_name",
            "owner",
            "owner_name",
            "pipeline",
            "pipeline_name",
            "stage",
            "stage_name",
            "status",
            "amount",
            "currency",
            "expected_close_date",
            "forecast_category",
            "lost_reason",
            "lost_reason_name",
            "created_at",
            "updated_at",
            "stage_entered_at",
            "closed_at",
            "deleted_at",
            "version",
            "external_id",
            "line_items",
        ]
        read_only_fields = [
            "status",
            "created_at",
            "updated_at",
            "stage_entered_at",
            "closed_at",
            "deleted_at",
        ]
        extra_kwargs = {"name": {"max_length": 200}}
        # The per-owner external id rule is the service's (``external_id_errors``), not a
        # unique-together validator that would make owner and external_id required.
        validators = []

    def validate(self, attrs):
        if self.instance is not None:
            for field in ("stage", "pipeline"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError(
                        {
                            field: "Use POST /deals/{id}/move/ to change the stage; the pipeline is fixed."
                        }
                    )
            if "lost_reason" in attrs and attrs["lost_reason"] != self.instance.lost_reason:
                raise serializers.ValidationError(
                    {"lost_reason": "Set the lost reason when moving the deal."}
                )
        errors = deal_field_errors(
            name=self._value(attrs, "name", ""),
            amount=self._value(attrs, "amount", Decimal("0.00")),
            currency=self._value(attrs, "currency", settings.DEFAULT_CURRENCY).upper(),
            expected_close_date=self._value(attrs, "expected_close_date", None),
            forecast_category=self._value(attrs, "forecast_category", ForecastCategory.PIPELINE),
        )
        if self.instance is None and attrs.get("stage") is not None:
            lost_reason = attrs.get("lost_reason")
            errors = merge_errors(
                errors,
                lost_reason_errors(
                    stage_kind=attrs["stage"].kind,
                    lost_reason_id=lost_reason.pk if lost_reason else None,
                    lost_reason_active=lost_reason.is_active if lost_reason else None,
                ),
            )
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _value(self, attrs: dict, field: str, default):
        """The field's value after this request: given, else the deal's, else the default for a new deal."""
        if field in attrs:
            return attrs[field]
        return getattr(self.instance, field) if self.instance is not None else default


def _line_item_specs(items: list[dict]) -> list[LineItemSpec]:
    return [
        LineItemSpec(
            product=item["product"],
            quantity=item["quantity"],
            unit_price=item.get("unit_price"),
            discount_pct=item.get("discount_pct", 0),
        )
        for item in items
    ]


class DealRowSerializer(DealRowBaseSerializer):
    # Not read-only, so not required in the schema: only ?expand=line_items writes it.
    line_items = LineItemSerializer(
        many=True,
        required=False,
        help_text="Only with ?expand=line_items: the deal's line items, as its detail gives them.",
    )


class MoveSerializer(serializers.Serializer):
    stage = VisiblePrimaryKeyRelatedField(selector=stages_visible_to)
    version = serializers.IntegerField(
        min_value=1, help_text="The version you last read; a stale one answers 409."
    )
    lost_reason = VisiblePrimaryKeyRelatedField(
        selector=lost_reasons_visible_to,
        required=False,
        allow_null=True,
        help_text="Required for a lost stage.",
    )


class TransitionSerializer(serializers.ModelSerializer):
    from_stage_name = serializers.CharField(
        source="from_stage.name", read_only=True, allow_null=True
    )
    to_stage_name = serializers.CharField(source="to_stage.name", read_only=True)
    by_name = serializers.CharField(source="by.display_name", read_only=True, allow_null=True)

    class Meta:
        model = StageTransition
        fields = [
            "id",
            "from_stage",
            "from_stage_name",
            "to_stage",
            "to_stage_name",
            "at",
            "by",
            "by_name",
        ]


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.CharField(allow_null=True)
    new = serializers.CharField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    by = serializers.IntegerField(allow_null=True)
    by_name = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    changes = FieldChangeSerializer(many=True)


VERSION_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The deal's ETag; 412 if stale.",
)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    # What IdempotentCreateMixin accepts: 1 to 255 characters, not all of them blank.
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"},
    OpenApiParameter.HEADER,
    required=False,
    description="A retried create with the same key returns the first answer instead of creating again.",
)
DELETED_PARAM = OpenApiParameter(
    "deleted",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    required=False,
    description="Admins only: read soft-deleted deals.",
)


@extend_schema_view(
    list=extend_schema(
        summary="List deals you may see",
        description=(
            "Flat rows (no line items unless ?expand=line_items). Pages by number (?page=) or by "
            "cursor (?cursor=, empty for the first page). The count is exact up to "
            "1000 deals and the database's estimate beyond: count_exact says which."
        ),
        parameters=[EXPAND_PARAM],
        responses=DealRowSerializer(many=True),
    ),
    retrieve=extend_schema(summary="Read one deal", parameters=[DELETED_PARAM]),
    create=extend_schema(summary="Open a deal", parameters=[IDEMPOTENCY_HEADER]),
    partial_update=extend_schema(
        summary="Change a deal",
        parameters=[VERSION_HEADER],
        responses={
            200: DealSerializer,
            409: ConflictSerializer,
            412: OpenApiResponse(description="If-Match stale"),
        },
    ),
    destroy=extend_schema(summary="Delete a deal (restorable for 30 days)", responses={204: None}),
)
class DealViewSet(
    DealSplitsMixin,
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Deals: reps their own, managers their team's, admins all."""

    selector = deals_visible_to
    serializer_class = DealSerializer
    filterset_class = DealFilter
    search_fields = ["name", "account__name", "external_id"]
    search_by_index = True
    # Each sorts by an (owner, field, id) index; the id breaks ties, in the field's direction.
    ordering_fields = list(DEAL_LIST_SORTS)
    ordering = ["expected_close_date", "id"]
    pagination_class = DealListPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {
        "read": EVERYONE,
        "write": EVERYONE,
        "move": EVERYONE,
        "splits": EVERYONE,
        "bulk": EVERYONE,
        "restore": ADMINS,
    }

    def _deleted_requested(self) -> bool:
        return query_flag(self.request, "deleted")

    def visible(self):
        user = self.request.user
        deleted_requested = (
            self._deleted_requested()
        )  # checked for everyone: a malformed flag is a 400
        with_deleted = user.is_admin and (self.action == "restore" or deleted_requested)
        return deals_visible_to(user, include_deleted=with_deleted)

    def shape(self, queryset):
        queryset = queryset.select_related("account", "owner", "pipeline", "stage", "lost_reason")
        if self.action not in (
            "destroy",
            "transitions",
            "history",
            "splits",
        ):  # those render no deal
            items = DealLineItem.objects.select_related("product")
            queryset = queryset.prefetch_related(Prefetch("line_items", queryset=items))
        return queryset

    def _expected_version(self, request, deal: Deal, body_version: int | None) -> int:
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match.strip() not in ("*", etag_of(deal)):
            raise PreconditionFailed()
        if body_version is not None:
            return body_version
        if if_match is not None and if_match.strip() != "*":
            return deal.version
        raise serializers.ValidationError(
            {"version": ["Send the version you last read, or an If-Match header."]}
        )

    @contextmanager
    def _one_answer_to_a_stale_if_match(self, request):
        """With an If-Match header, a deal changed by someone else is a 412 whether the change is
        seen on reading the deal or only inside the write (a race): one answer, whatever the timing."""
        try:
            yield
        except ConflictError:
            if request.headers.get("If-Match", "*").strip() != "*":
                raise PreconditionFailed() from None
            raise

    def _render(self, deal: Deal, code=status.HTTP_200_OK) -> Response:
        response = Response(self.get_serializer(deal).data, status=code)
        response["ETag"] = etag_of(deal)
        return response

    def _answer(self, deal: Deal, code=status.HTTP_200_OK) -> Response:
        """The deal as it is now, after a write: read again with its relations."""
        return self._render(self.get_queryset().get(pk=deal.pk), code)

    def list(self, request, *args, **kwargs):
        deleted_requested = self._deleted_requested()  # for everyone: a malformed flag is a 400
        return deal_list_answer(
            self,
            request,
            include_deleted=request.user.is_admin and deleted_requested,
            line_item_serializer=LineItemSerializer,
        )

    def retrieve(self, request, *args, **kwargs):
        return self._render(self.get_object())  # already read with its relations

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        items = data.pop("line_items", None)
        serializer.instance = deal_create(
            by=self.request.user, line_items=_line_item_specs(items) if items else None, **data
        )

    def create(self, request, *args, **kwargs):
        def produce():
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            self.perform_create(serializer)
            deal = serializer.instance
            if "line_items" in serializer.validated_data:
                return self._answer(deal, status.HTTP_201_CREATED)
            # The new deal holds the records it was created with (account, owner, pipeline,
            # stage, lost reason, all read while validating) and has no line items.
            deal._prefetched_objects_cache = {"line_items": DealLineItem.objects.none()}
            return self._render(deal, status.HTTP_201_CREATED)

        return self.run_idempotent(request, produce)

    def partial_update(self, request, *args, **kwargs):
        deal = self.get_object()
        serializer = self.get_serializer(deal, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = self._expected_version(request, deal, data.pop("version", None))
        items = data.pop("line_items", None)
        data.pop("stage", None)
        data.pop("pipeline", None)
        data.pop("lost_reason", None)
        with self._one_answer_to_a_stale_if_match(request):
            edited = deal_edit(
                deal=deal,
                by=request.user,
                expected_version=version,
                line_items=_line_item_specs(items) if items is not None else None,
                **data,
            )
        if items is None and edited.version == deal.version:  # nothing changed: as read
            return self._render(deal)
        if items is not None or not _written_once_since(deal, edited):
            return self._answer(edited)
        return self._render_written(deal, edited)

    def _render_written(self, read: Deal, written: Deal) -> Response:
        """Answer ``written``, our one write since ``read``, with what ``read`` holds: nothing else
        wrote the deal in between and our write left its line items alone."""
        _relations_from(read, written)
        written._prefetched_objects_cache = {"line_items": read.line_items.all()}
        return self._render(written)

    def destroy(self, request, *args, **kwargs):
        deal = self.get_object()
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match.strip() not in ("*", etag_of(deal)):
            raise PreconditionFailed()
        deal_delete(deal=deal, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Move a deal to another stage",
        request=MoveSerializer,
        parameters=[VERSION_HEADER],
        responses={
            200: DealSerializer,
            409: ConflictSerializer,
            412: OpenApiResponse(description="If-Match stale"),
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        deal = self.get_object()
        serializer = MoveSerializer(data=request.data, context=self.get_serializer_context())
        require_json_types(serializer)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = self._expected_version(request, deal, data["version"])
        with self._one_answer_to_a_stale_if_match(request):
            moved = deal_move(
                deal=deal,
                to_stage=data["stage"],
                by=request.user,
                expected_version=version,
                lost_reason=data.get("lost_reason"),
            )
        if not _written_once_since(deal, moved):
            return self._answer(moved)
        # The move set the stage and lost reason; the rest is as read.
        return self._render_written(deal, moved)

    @extend_schema(
        summary="A deal's stage history, oldest first", responses=TransitionSerializer(many=True)
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def transitions(self, request, pk=None):
        deal = self.get_object()
        return Response(TransitionSerializer(deal_transitions(deal), many=True).data)

    @extend_schema(
        summary="Who changed what on a deal, oldest first",
        responses=HistoryEntrySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request, pk=None):
        deal = self.get_object()
        records = list(deal_history(deal))[::-1]
        return Response(HistoryEntrySerializer(history_entries(records), many=True).data)

    @extend_schema(
        summary="Restore a soft-deleted deal (admins)", request=None, responses=DealSerializer
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        deal = deal_restore(deal=self.get_object(), by=request.user)
        return self._answer(deal)

    @extend_schema(
        summary="Create or update up to 500 deals at once (all or nothing)",
        request=BulkRequest,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            200: BulkResult,
            400: OpenApiResponse(BulkErrors, description="Row-numbered problems."),
        },
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def bulk(self, request):
        return bulk_deals(self, request)
