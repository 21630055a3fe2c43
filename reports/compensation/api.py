"""Commission plans and statements over REST.

Reads are scoped like the pages: admins everyone's, a manager their team's, a rep their own.
Admins write plans, compute, recompute and approve statements; anyone asks a what-if of a
rep they may see (a rep: themselves).
"""

import datetime

import django_filters
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from pipeline.selectors import products_visible_to
from reports.compensation.models import (
    STATEMENT_FIGURES,
    CommissionKind,
    CommissionPlan,
    CommissionStatement,
    PlanProductBonus,
    PlanTier,
    StatementLine,
    StatementStatus,
)
from reports.compensation.selectors import (
    current_statements,
    plans_visible_to,
    statements_visible_to,
    what_if_deals,
)
from reports.compensation.services import (
    BonusSpec,
    TierSpec,
    plan_create,
    plan_delete,
    plan_update,
    statement_approve,
    statement_compute,
    statement_preview,
)
from salesmgr.api.base import (
    ADMINS,
    EVERYONE,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    query_flag,
    require_json_types,
)
from salesmgr.selectors import users_visible_to

MONEY = {"max_digits": 16, "decimal_places": 2}
PERCENT = {"max_digits": 7, "decimal_places": 3}


class TierSerializer(serializers.ModelSerializer):
    from_attainment = serializers.DecimalField(
        **PERCENT, min_value=0, help_text="Percent of quota."
    )
    rate = serializers.DecimalField(
        **PERCENT, min_value=0, max_value=100, help_text="Percent of won value."
    )

    class Meta:
        model = PlanTier
        fields = ["from_attainment", "rate"]


class ProductBonusSerializer(serializers.ModelSerializer):
    product = VisiblePrimaryKeyRelatedField(selector=products_visible_to)
    amount = serializers.DecimalField(**MONEY, min_value=0)

    class Meta:
        model = PlanProductBonus
        fields = ["product", "amount"]


class PlanSerializer(serializers.ModelSerializer):
    rep = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)
    kind = serializers.ChoiceField(choices=CommissionKind.choices, default=CommissionKind.FLAT)
    base_salary = serializers.DecimalField(**MONEY, min_value=0, required=False)
    on_target_earnings = serializers.DecimalField(**MONEY, min_value=0, required=False)
    flat_rate = serializers.DecimalField(**PERCENT, min_value=0, max_value=100, required=False)
    cap = serializers.DecimalField(**MONEY, min_value=0, required=False, allow_null=True)
    new_logo_bonus = serializers.DecimalField(**MONEY, min_value=0, required=False)
    clawback_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    tiers = TierSerializer(many=True, required=False)
    product_bonuses = ProductBonusSerializer(many=True, required=False)

    class Meta:
        model = CommissionPlan
        fields = [
            "id",
            "rep",
            "rep_name",
            "name",
            "effective_from",
            "effective_to",
            "base_salary",
            "on_target_earnings",
            "kind",
            "flat_rate",
            "tiers",
            "cap",
            "new_logo_bonus",
            "product_bonuses",
            "clawback_days",
        ]


def _terms(data: dict) -> dict:
    tiers = data.pop("tiers", None)
    bonuses = data.pop("product_bonuses", None)
    if tiers is not None:
        data["tiers"] = [TierSpec(t["from_attainment"], t["rate"]) for t in tiers]
    if bonuses is not None:
        data["product_bonuses"] = [BonusSpec(b["product"], b["amount"]) for b in bonuses]
    return data


class PlanFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class CommissionPlanViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Commission plans: admins manage them; a manager reads the team's, a rep their own."""

    selector = plans_visible_to
    serializer_class = PlanSerializer
    filterset_class = PlanFilter
    ordering_fields = ["effective_from", "id"]
    ordering = ["rep_id", "-effective_from"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "write": ADMINS}

    def shape(self, queryset):
        return queryset.select_related("rep").prefetch_related("tiers", "product_bonuses")

    def perform_create(self, serializer):
        serializer.instance = plan_create(
            by=self.request.user, **_terms(dict(serializer.validated_data))
        )

    def perform_update(self, serializer):
        data = _terms(dict(serializer.validated_data))
        if "rep" in data and data["rep"].pk != serializer.instance.rep_id:
            raise exceptions.ValidationError(
                {"rep": ["A plan stays with its rep; give the other rep a plan of their own."]}
            )
        data.pop("rep", None)
        serializer.instance = plan_update(plan=serializer.instance, by=self.request.user, **data)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        plan_delete(plan=instance, by=self.request.user)


class LineSerializer(serializers.ModelSerializer):
    deal = serializers.IntegerField(
        source="deal_ref", allow_null=True, help_text="The deal the line comes from."
    )

    class Meta:
        model = StatementLine
        fields = [
            "kind",
            "deal",
            "deal_name",
            "closed_at",
            "value",
            "share",
            "credited",
            "amount",
            "note",
        ]


class StatementSerializer(serializers.ModelSerializer):
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)
    changes = serializers.JSONField(
        read_only=True,
        allow_null=True,
        help_text="Against the previous version: lines added, removed, changed; totals.",
    )

    class Meta:
        model = CommissionStatement
        fields = [
            "id",
            "rep",
            "rep_name",
            "month",
            "version",
            "status",
            "as_of",
            *STATEMENT_FIGURES,
            "computed_at",
            "approved_at",
        ]
        read_only_fields = fields


class StatementDetailSerializer(StatementSerializer):
    lines = LineSerializer(many=True, read_only=True)

    class Meta(StatementSerializer.Meta):
        fields = [*StatementSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class StatementFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")
    month = django_filters.DateFilter(
        field_name="month", help_text="The month's first day, YYYY-MM-01."
    )
    status = django_filters.ChoiceFilter(choices=StatementStatus.choices)


FIRST_YEAR, LAST_YEAR = 1900, 9000


def _month(value: datetime.date | None, field: str = "month") -> datetime.date:
    if value is None:
        raise exceptions.ValidationError({field: ["Give the month as YYYY-MM-01."]})
    if value.day != 1:
        raise exceptions.ValidationError({field: ["Give the month's first day, YYYY-MM-01."]})
    return _in_range(value, field)


def _in_range(value: datetime.date | None, field: str) -> datetime.date | None:
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise exceptions.ValidationError(
            {field: [f"Give a date from {FIRST_YEAR} to {LAST_YEAR}."]}
        )
    return value


class ComputeSerializer(serializers.Serializer):
    rep = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    month = serializers.DateField(help_text="The month's first day.")
    as_of = serializers.DateField(required=False, help_text="Default: today.")


class RecomputeSerializer(serializers.Serializer):
    as_of = serializers.DateField(required=False, help_text="Default: today.")


class WhatIfSerializer(serializers.Serializer):
    rep = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, required=False, help_text="Default: you."
    )
    month = serializers.DateField(
        required=False, help_text="The month's first day; default: this month."
    )
    deals = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=200,
        help_text="Open deals to count as won today.",
    )


class WhatIfLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    deal = serializers.IntegerField(source="deal_id", allow_null=True)
    deal_name = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)
    value = serializers.DecimalField(**MONEY, allow_null=True)
    share = serializers.DecimalField(max_digits=5, decimal_places=2)
    credited = serializers.DecimalField(**MONEY, allow_null=True)
    amount = serializers.DecimalField(**MONEY)
    note = serializers.CharField()


class WhatIfResultSerializer(serializers.Serializer):
    rep = serializers.IntegerField()
    month = serializers.DateField()
    as_of = serializers.DateField()
    plan_name = serializers.CharField()
    quota = serializers.DecimalField(**MONEY, allow_null=True)
    credited_value = serializers.DecimalField(**MONEY)
    attainment = serializers.DecimalField(max_digits=9, decimal_places=4, allow_null=True)
    commission = serializers.DecimalField(**MONEY)
    bonuses = serializers.DecimalField(**MONEY)
    cap_adjustment = serializers.DecimalField(**MONEY)
    clawbacks = serializers.DecimalField(**MONEY)
    total = serializers.DecimalField(**MONEY)
    lines = WhatIfLineSerializer(many=True)


def what_if_answer(
    *, requester, rep, month: datetime.date, deal_ids: list[int], today: datetime.date
) -> dict:
    """The what-if statement as a dict (deals checked: open, credited to the rep, visible to the requester)."""
    if requester.is_rep and rep.pk != requester.pk:
        raise exceptions.PermissionDenied("A rep asks a what-if of their own statement.")
    allowed = set(
        what_if_deals(requester, rep.pk).filter(pk__in=deal_ids).values_list("pk", flat=True)
    )
    refused = [pk for pk in deal_ids if pk not in allowed]
    if refused:
        raise exceptions.ValidationError(
            {
                "deals": [
                    f"Not open deals credited to {rep.display_name} that you can see: {refused}."
                ]
            }
        )
    plan, figures = statement_preview(
        rep=rep, month=month, as_of=today, what_if_ids=tuple(sorted(allowed))
    )
    return {
        "rep": rep.pk,
        "month": month,
        "as_of": today,
        "plan_name": plan.name if plan else "",
        **{
            name: getattr(figures, name)
            for name in (
                "quota",
                "credited_value",
                "attainment",
                "commission",
                "bonuses",
                "cap_adjustment",
                "clawbacks",
                "total",
            )
        },
        "lines": figures.lines,
    }


@extend_schema_view(
    list=extend_schema(summary="Commission statements (current versions only with current=true)"),
)
class CommissionStatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Monthly commission statements, stored with their lines; every version is kept."""

    selector = statements_visible_to
    serializer_class = StatementSerializer
    filterset_class = StatementFilter
    ordering_fields = ["month", "total", "id", "version"]
    ordering = ["-month", "rep_id", "-version"]
    lookup_value_regex = r"\d+"
    role_rules = {
        "read": EVERYONE,
        "compute": ADMINS,
        "recompute": ADMINS,
        "approve": ADMINS,
        "what_if": EVERYONE,
    }

    def get_serializer_class(self):
        if self.action in ("retrieve", "compute", "recompute", "approve"):
            return StatementDetailSerializer
        return StatementSerializer

    def shape(self, queryset):
        if self.action == "list" and query_flag(self.request, "current"):
            queryset = current_statements(queryset)
        queryset = queryset.select_related("rep")
        if self.action != "list":
            queryset = queryset.prefetch_related(
                Prefetch("lines", queryset=StatementLine.objects.order_by("position"))
            )
        return queryset

    def _detail(self, statement, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=statement.pk)
        return Response(StatementDetailSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Compute and store a rep's statement for a month (admins; a new version if one exists)",
        request=ComputeSerializer,
        responses={201: StatementDetailSerializer},
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def compute(self, request):
        body = ComputeSerializer(data=request.data, context={"request": request})
        require_json_types(body)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        statement = statement_compute(
            rep=data["rep"],
            month=_month(data["month"]),
            as_of=_in_range(data.get("as_of"), "as_of"),
            by=request.user,
        )
        return self._detail(statement, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Recompute: a new version of this statement's month, with what changed (admins)",
        request=RecomputeSerializer,
        responses={201: StatementDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def recompute(self, request, pk=None):
        statement = self.get_object()
        body = RecomputeSerializer(data=request.data)
        require_json_types(body)
        body.is_valid(raise_exception=True)
        fresh = statement_compute(
            rep=statement.rep,
            month=statement.month,
            as_of=_in_range(body.validated_data.get("as_of"), "as_of"),
            by=request.user,
        )
        return self._detail(fresh, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve the current draft (admins); it is locked from then on",
        request=None,
        responses={200: StatementDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._detail(statement_approve(statement=self.get_object(), by=request.user))

    @extend_schema(
        summary="What if these open deals closed today: the statement computed with them won (not stored)",
        request=WhatIfSerializer,
        responses={
            200: WhatIfResultSerializer,
            400: OpenApiResponse(description="A deal not open, not the rep's or not visible."),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="what-if",
        filter_backends=[],
        pagination_class=None,
    )
    def what_if(self, request):
        body = WhatIfSerializer(data=request.data, context={"request": request})
        require_json_types(body)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        today = timezone.localdate()
        month = _month(data.get("month") or today.replace(day=1))
        answer = what_if_answer(
            requester=request.user,
            rep=data.get("rep") or request.user,
            month=month,
            deal_ids=data["deals"],
            today=today,
        )
        return Response(WhatIfResultSerializer(answer).data)
