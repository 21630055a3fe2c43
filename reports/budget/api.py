"""Team budgets over REST: admins and the team's managers read; admins create and plan; managers enter actuals."""

import django_filters
from django import forms
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from reports.budget.models import AmountKind, BudgetAmount, SpendCategory, TeamBudget
from reports.budget.selectors import budget_figures, budgets_visible_to
from reports.budget.services import budget_amount_set, budget_create
from salesmgr.api.base import (
    ADMINS,
    MANAGERS,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    require_json_types,
)
from salesmgr.selectors import users_visible_to

MONEY = {"max_digits": 16, "decimal_places": 2}


class BudgetSerializer(serializers.ModelSerializer):
    manager = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, help_text="The team's manager."
    )
    manager_name = serializers.CharField(source="manager.display_name", read_only=True)
    year = serializers.IntegerField(min_value=1900, max_value=9000)

    class Meta:
        model = TeamBudget
        fields = ["id", "manager", "manager_name", "year"]
        validators = []  # budget_create refuses a second budget for a team and year, naming the year


class MonthFiguresSerializer(serializers.Serializer):
    month = serializers.DateField()
    base = serializers.DecimalField(**MONEY)
    commission = serializers.DecimalField(
        **MONEY, help_text="Expected: on-target variable pay x projected attainment."
    )
    programmes = serializers.DecimalField(**MONEY)
    budget = serializers.DecimalField(**MONEY)
    actual = serializers.DecimalField(**MONEY, allow_null=True)
    variance = serializers.DecimalField(
        **MONEY, allow_null=True, help_text="Budget less actual: above 0 is under budget."
    )
    won_value = serializers.DecimalField(**MONEY)
    cost_of_sales = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True, help_text="Actual spend / won value."
    )


class CategorySerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=SpendCategory.choices)
    planned = serializers.DecimalField(**MONEY)
    actual = serializers.DecimalField(**MONEY)


class TotalsSerializer(serializers.Serializer):
    budget = serializers.DecimalField(**MONEY)
    budget_to_date = serializers.DecimalField(**MONEY)
    actual = serializers.DecimalField(**MONEY)
    variance_to_date = serializers.DecimalField(**MONEY)
    won_value = serializers.DecimalField(**MONEY)
    cost_of_sales = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)


class FiguresSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    projected_attainment = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    months = MonthFiguresSerializer(many=True)
    categories = CategorySerializer(many=True)
    totals = TotalsSerializer()


class BudgetDetailSerializer(BudgetSerializer):
    figures = FiguresSerializer(
        read_only=True, help_text="By month of the year, by category, and totals."
    )

    class Meta(BudgetSerializer.Meta):
        fields = [*BudgetSerializer.Meta.fields, "figures"]


class AmountSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=AmountKind.choices)
    category = serializers.ChoiceField(choices=SpendCategory.choices)
    month = serializers.IntegerField(min_value=1, max_value=12)
    amount = serializers.DecimalField(**MONEY, min_value=0)

    class Meta:
        model = BudgetAmount
        fields = ["kind", "category", "month", "amount"]
        validators = []


class YearFilter(django_filters.NumberFilter):
    """A whole year: 2026, never 2026.5."""

    field_class = forms.IntegerField


class BudgetFilter(django_filters.FilterSet):
    manager = IdFilter(field_name="manager_id")
    year = YearFilter(field_name="year")


class TeamBudgetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    """Yearly team budgets; a budget read alone carries its figures by month."""

    selector = budgets_visible_to
    serializer_class = BudgetSerializer
    filterset_class = BudgetFilter
    ordering_fields = ["year", "id"]
    ordering = ["-year", "manager_id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": MANAGERS, "create": ADMINS, "amounts": MANAGERS}

    def shape(self, queryset):
        return queryset.select_related("manager")

    def get_serializer_class(self):
        return (
            BudgetDetailSerializer if self.action in ("retrieve", "amounts") else BudgetSerializer
        )

    def _detail(self, budget: TeamBudget) -> Response:
        budget.figures = budget_figures(budget, timezone.localdate())
        return Response(BudgetDetailSerializer(budget, context={"request": self.request}).data)

    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    def perform_create(self, serializer):
        serializer.instance = budget_create(by=self.request.user, **serializer.validated_data)

    @extend_schema(
        summary="Set a planned programme amount (admins) or an actual spend (admins, the team's managers)",
        request=AmountSerializer,
        responses={200: BudgetDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def amounts(self, request, pk=None):
        budget = self.get_object()
        body = AmountSerializer(data=request.data)
        require_json_types(body)
        body.is_valid(raise_exception=True)
        budget_amount_set(budget=budget, by=request.user, **body.validated_data)
        return self._detail(budget)
