"""Territory assignment over REST: rules, previews, realignment jobs and the handover log.

Admins change rules and start realignments; everyone reads the rules of the
territories they see and the handovers to or from them (managers: their team's).
"""

import django_filters
from django.db.models import Prefetch, Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from pipeline.assignment import RuleSpec, TerritoryChange, realignment_plan
from pipeline.checks.territories import (
    PRIORITY_MAX,
    RULE_FIELDS,
    RuleValues,
    rule_errors,
    territory_changes_errors,
)
from pipeline.models import Account, Handover, TerritoryRealignment, TerritoryRule
from pipeline.money import merge_unconverted, reporting_currency, unconverted_notice
from pipeline.selectors import (
    accounts_visible_to,
    handovers_visible_to,
    realignments_visible_to,
    territory_rules_visible_to,
)
from pipeline.services.territories import (
    realignment_start,
    territory_rule_create,
    territory_rule_delete,
    territory_rule_update,
)
from pipeline.tasks import realign_territories
from quotas.api import TerritorySerializer, TerritoryViewSet
from quotas.models import Territory
from quotas.selectors import territories_visible_to
from salesmgr.api.base import (
    ADMINS,
    EVERYONE,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    require_json_types,
)
from salesmgr.models import User
from salesmgr.queue import task_publish

MONEY = {"max_digits": 14, "decimal_places": 2, "min_value": 0}


def _texts(max_length: int) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=max_length), required=False, max_length=300
    )


class RuleConditions(serializers.Serializer):
    """The conditions of a rule, shared by saved rules and the rules of a proposal."""

    priority = serializers.IntegerField(min_value=0, max_value=PRIORITY_MAX, default=100)
    countries = _texts(2)
    regions = _texts(80)
    industries = _texts(80)
    employees_min = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, allow_null=True
    )
    employees_max = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, allow_null=True
    )
    revenue_min = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    revenue_max = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    postcode_prefixes = _texts(16)


def _values(data: dict, account_ids: list[int]) -> RuleValues:
    return RuleValues(
        priority=data.get("priority", 100),
        countries=data.get("countries", []),
        regions=data.get("regions", []),
        industries=data.get("industries", []),
        employees_min=data.get("employees_min"),
        employees_max=data.get("employees_max"),
        revenue_min=data.get("revenue_min"),
        revenue_max=data.get("revenue_max"),
        postcode_prefixes=data.get("postcode_prefixes", []),
        account_ids=account_ids,
    )


class TerritoryRuleSerializer(RuleConditions, serializers.ModelSerializer):
    territory = VisiblePrimaryKeyRelatedField(selector=territories_visible_to)
    accounts = VisiblePrimaryKeyRelatedField(
        selector=accounts_visible_to, many=True, required=False
    )

    class Meta:
        model = TerritoryRule
        fields = [
            "id",
            "territory",
            *RULE_FIELDS,
            "accounts",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate(self, data):
        merged = (
            {name: getattr(self.instance, name) for name in RULE_FIELDS} if self.instance else {}
        )
        merged.update(data)
        if "accounts" in data:
            account_ids = [account.pk for account in data["accounts"]]
        else:
            account_ids = (
                list(self.instance.accounts.values_list("pk", flat=True)) if self.instance else []
            )
        errors = rule_errors(_values(merged, account_ids))
        if errors:
            raise serializers.ValidationError(errors)
        return data


class TerritoryRuleFilter(django_filters.FilterSet):
    territory = IdFilter(field_name="territory_id")


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class TerritoryRuleViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Assignment rules: AND within a rule, OR across a territory's rules, the lowest priority wins."""

    selector = territory_rules_visible_to
    serializer_class = TerritoryRuleSerializer
    filterset_class = TerritoryRuleFilter
    ordering_fields = ["priority", "id"]
    ordering = ["priority", "territory_id", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "write": ADMINS}

    def shape(self, queryset):
        return queryset.prefetch_related(Prefetch("accounts", queryset=Account.objects.only("pk")))

    def perform_create(self, serializer):
        serializer.instance = territory_rule_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = territory_rule_update(
            rule=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        territory_rule_delete(rule=instance, by=self.request.user)


class TerritoryWithRulesSerializer(TerritorySerializer):
    rules = TerritoryRuleSerializer(many=True, read_only=True)

    class Meta(TerritorySerializer.Meta):
        fields = [*TerritorySerializer.Meta.fields, "rules"]


class TerritoryWithRulesViewSet(TerritoryViewSet):
    """Territories (a tree through ``parent``), their owner, members (reps) and assignment rules."""

    serializer_class = TerritoryWithRulesSerializer

    def shape(self, queryset):
        rules = TerritoryRule.objects.prefetch_related(
            Prefetch("accounts", queryset=Account.objects.only("pk"))
        )
        return super().shape(queryset).prefetch_related(Prefetch("rules", queryset=rules))


class ProposedRule(RuleConditions):
    accounts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=1000,
    )


class ProposedTerritory(serializers.Serializer):
    territory = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    rules = ProposedRule(many=True, required=False, help_text="The territory's whole new rule set.")
    reps = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=500,
        help_text="The territory's new members (reps).",
    )


class RealignmentRequest(serializers.Serializer):
    """Proposed changes: each named territory's new rules and/or members; none realigns under the saved ones."""

    territories = ProposedTerritory(many=True, required=False, max_length=200)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, data):
        changes = []
        for item in data.get("territories", []):
            rules = None
            if "rules" in item:
                rules = tuple(
                    RuleSpec(
                        territory_id=item["territory"],
                        priority=rule.get("priority", 100),
                        countries=tuple(rule.get("countries", ())),
                        regions=tuple(rule.get("regions", ())),
                        industries=tuple(rule.get("industries", ())),
                        employees_min=rule.get("employees_min"),
                        employees_max=rule.get("employees_max"),
                        revenue_min=rule.get("revenue_min"),
                        revenue_max=rule.get("revenue_max"),
                        postcode_prefixes=tuple(rule.get("postcode_prefixes", ())),
                        account_ids=frozenset(rule.get("accounts", ())),
                    )
                    for rule in item["rules"]
                )
            members = tuple(item["reps"]) if "reps" in item else None
            changes.append(
                TerritoryChange(territory_id=item["territory"], rules=rules, member_ids=members)
            )
        errors = territory_changes_errors(changes)
        if errors:
            raise serializers.ValidationError(errors)
        data["changes"] = changes
        return data


class UnconvertedCurrency(serializers.Serializer):
    currency = serializers.CharField()
    deals = serializers.IntegerField()
    value = serializers.DecimalField(
        max_digits=16, decimal_places=2, help_text="As entered, in this currency."
    )


class PreviewGroup(serializers.Serializer):
    from_territory = serializers.IntegerField(allow_null=True)
    from_territory_name = serializers.CharField(allow_null=True)
    from_owner = serializers.IntegerField()
    from_owner_name = serializers.CharField()
    to_territory = serializers.IntegerField(allow_null=True)
    to_territory_name = serializers.CharField(allow_null=True)
    to_owner = serializers.IntegerField()
    to_owner_name = serializers.CharField()
    accounts = serializers.IntegerField()
    deals = serializers.IntegerField(help_text="Open deals that change owner.")
    value = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        help_text="Their value in the reporting currency at today's rates (deals without a rate left out).",
    )
    unconverted = UnconvertedCurrency(
        many=True, help_text="Deals among them without a rate, per currency: left out of value."
    )


class PreviewResult(serializers.Serializer):
    accounts = serializers.IntegerField()
    deals = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=16, decimal_places=2)
    currency = serializers.CharField(help_text="The reporting currency of every value.")
    unconverted = UnconvertedCurrency(many=True)
    unconverted_notice = serializers.CharField(
        help_text="The sentence to show when deals were left out for want of a rate ('' when none were)."
    )
    groups = PreviewGroup(many=True)


class RealignmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = TerritoryRealignment
        fields = [
            "id",
            "status",
            "requested_by",
            "reason",
            "total",
            "done",
            "skipped",
            "deals_moved",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "progressed_at",
        ]
        read_only_fields = fields


def _named(groups: list[dict]) -> list[dict]:
    """The groups with their territories' and people's names (two queries)."""
    territory_ids = {
        g[k] for g in groups for k in ("from_territory", "to_territory") if g[k] is not None
    }
    people_ids = {g[k] for g in groups for k in ("from_owner", "to_owner")}
    territories = dict(Territory.objects.filter(pk__in=territory_ids).values_list("pk", "name"))
    people = {user.pk: user.display_name for user in User.objects.filter(pk__in=people_ids)}
    for group in groups:
        for side in ("from", "to"):
            group[f"{side}_territory_name"] = territories.get(group[f"{side}_territory"])
            group[f"{side}_owner_name"] = people.get(group[f"{side}_owner"], "")
    return groups


@extend_schema_view(
    list=extend_schema(summary="Realignment jobs, newest first (admins)"),
    retrieve=extend_schema(summary="One realignment job and its progress (admins)"),
)
class RealignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Preview a realignment, start one as a background job, and follow its progress."""

    selector = realignments_visible_to
    serializer_class = RealignmentSerializer
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": ADMINS, "create": ADMINS, "preview": ADMINS}

    def _request(self, request) -> RealignmentRequest:
        serializer = RealignmentRequest(data=request.data, context=self.get_serializer_context())
        require_json_types(serializer)
        serializer.is_valid(raise_exception=True)
        return serializer

    @extend_schema(
        summary="What a realignment with these changes would move (writes nothing)",
        request=RealignmentRequest,
        responses={200: PreviewResult},
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def preview(self, request):
        plan = realignment_plan(changes=self._request(request).validated_data["changes"])
        groups = _named(plan.groups())
        totals = {
            key: sum(group[key] for group in groups) for key in ("accounts", "deals", "value")
        }
        missing = merge_unconverted(*(group["unconverted"] for group in groups))
        return Response(
            PreviewResult(
                {
                    **totals,
                    "currency": reporting_currency(),
                    "unconverted": missing,
                    "unconverted_notice": unconverted_notice(missing),
                    "groups": groups,
                }
            ).data
        )

    @extend_schema(
        summary="Write these changes and realign in the background; follow the job by its id",
        request=RealignmentRequest,
        responses={202: RealignmentSerializer},
    )
    def create(self, request):
        data = self._request(request).validated_data
        job = realignment_start(
            by=request.user,
            changes=data["changes"],
            reason=data["reason"],
            run=lambda job_id: task_publish(realign_territories, args=[job_id], ignore_result=True),
        )
        job.refresh_from_db()
        return Response(RealignmentSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class HandoverSerializer(serializers.ModelSerializer):
    class Meta:
        model = Handover
        fields = [
            "id",
            "account",
            "deal",
            "from_territory",
            "to_territory",
            "from_owner",
            "to_owner",
            "by",
            "rule",
            "job",
            "reason",
            "at",
        ]
        read_only_fields = fields


class HandoverFilter(django_filters.FilterSet):
    account = IdFilter(field_name="account_id")
    deal = IdFilter(field_name="deal_id")
    job = IdFilter(field_name="job_id")
    territory = IdFilter(
        method="filter_territory", help_text="Handovers into or out of this territory."
    )

    def filter_territory(self, queryset, name, value):
        return queryset.filter(Q(from_territory_id=value) | Q(to_territory_id=value))


@extend_schema_view(list=extend_schema(summary="The handover log, newest first"))
class HandoverViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Who handed which account or deal to whom, when and why; read-only."""

    selector = handovers_visible_to
    serializer_class = HandoverSerializer
    filterset_class = HandoverFilter
    ordering_fields = ["at", "id"]
    ordering = ["-at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE}


__all__ = [
    "HandoverViewSet",
    "RealignmentViewSet",
    "TerritoryRuleViewSet",
    "TerritoryWithRulesViewSet",
]
