"""Hiring over REST: positions, applicants and their moves (hiring makes the new rep), interview notes,
scorecards and the capacity plan.

Thin: validate, call a service or a selector, render. Managers and admins only (a rep gets 403);
every record comes from ``coaching.hiring``'s selectors, so a position, applicant, note or scorecard
of another manager's reads as 404. Applicants carry no notes: those live at their own endpoints,
under the same rule.
"""

from decimal import Decimal

import django_filters
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from coaching.hiring import (
    DEFAULT_ATTRITION,
    applicants_listed,
    applicants_visible_to,
    capacity_defaults,
    capacity_inputs,
    hiring_managers_for,
    interview_notes_visible_to,
    may_hire,
    positions_listed,
    positions_visible_to,
    scorecards_listed,
    scorecards_visible_to,
    territories_for_positions,
)
from coaching.hiring_capacity import capacity_plan, parse_ramp
from coaching.models import (
    Applicant,
    ApplicantStage,
    Competency,
    CompetencyRating,
    InterviewNote,
    Position,
    PositionStatus,
    Recommendation,
    RejectionReason,
    Scorecard,
)
from coaching.models.hiring import DEFAULT_RAMP, RATING_MAX, RATING_MIN
from coaching.services import (
    applicant_add,
    applicant_move,
    interview_note_add,
    position_create,
    position_update,
    positions_open_from_plan,
    scorecard_record,
)
from coaching.services.hiring import NOTE_MAX
from salesmgr.api.base import (
    MANAGERS,
    IdempotentCreateMixin,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    require_json_types,
)
from salesmgr.api.fields import DateField


def _territories(user):
    return territories_for_positions()


class RampField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return ",".join(str(v) for v in parse_ramp(value))
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None


class PositionSerializer(serializers.ModelSerializer):
    manager = VisiblePrimaryKeyRelatedField(
        selector=hiring_managers_for,
        required=False,
        help_text="The hiring manager. Default: you (a manager); admins name one.",
    )
    manager_name = serializers.CharField(source="manager.display_name", read_only=True)
    territory = VisiblePrimaryKeyRelatedField(
        selector=_territories, required=False, allow_null=True
    )
    territory_name = serializers.CharField(source="territory.name", read_only=True, allow_null=True)
    start_wanted = DateField()
    status = serializers.ChoiceField(choices=PositionStatus.choices, required=False)
    monthly_quota = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        help_text="The new rep's full monthly quota; empty: the team's standard per-rep quota.",
    )
    ramp = RampField(required=False, default=DEFAULT_RAMP, max_length=80)
    filled_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    applicant_count = serializers.IntegerField(read_only=True)
    in_running = serializers.IntegerField(read_only=True)

    class Meta:
        model = Position
        fields = [
            "id",
            "title",
            "manager",
            "manager_name",
            "territory",
            "territory_name",
            "start_wanted",
            "status",
            "monthly_quota",
            "ramp",
            "filled_by",
            "applicant_count",
            "in_running",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        if self.instance is not None and "manager" in attrs:
            raise serializers.ValidationError(
                {"manager": ["A position keeps its hiring manager; open another."]}
            )
        return attrs


class PositionFilter(django_filters.FilterSet):
    manager = IdFilter(field_name="manager_id")
    territory = IdFilter(field_name="territory_id")
    status = django_filters.ChoiceFilter(choices=PositionStatus.choices)

    class Meta:
        model = Position
        fields = []


@extend_schema_view(
    list=extend_schema(summary="Positions you hire for (admins: all)"),
)
class PositionViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    """Positions to fill: the hiring manager's own and, for admins, everyone's."""

    selector = positions_visible_to
    serializer_class = PositionSerializer
    filterset_class = PositionFilter
    search_fields = ["title"]
    ordering_fields = ["start_wanted", "id"]
    ordering = ["start_wanted", "id"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": MANAGERS, "write": MANAGERS}

    def shape(self, queryset):
        return positions_listed(queryset)

    def _fresh(self, position):
        return positions_listed(positions_visible_to(self.request.user)).get(pk=position.pk)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("status", None)
        position = position_create(by=self.request.user, **data)
        serializer.instance = self._fresh(position)

    def perform_update(self, serializer):
        position = position_update(
            position=serializer.instance, by=self.request.user, **serializer.validated_data
        )
        serializer.instance = self._fresh(position)


# --- Applicants ------------------------------------------------------------------------------


class HireAnswer(serializers.Serializer):
    user = serializers.IntegerField()
    username = serializers.CharField()
    temporary_password = serializers.CharField(
        help_text="Shown in this answer only: hand it to the new rep."
    )
    onboarding = serializers.IntegerField(allow_null=True)
    quotas = serializers.ListField(child=serializers.DictField(), help_text="Month and target.")


class ApplicantSerializer(serializers.ModelSerializer):
    position = VisiblePrimaryKeyRelatedField(selector=positions_visible_to)
    position_title = serializers.CharField(source="position.title", read_only=True)
    stage = serializers.ChoiceField(choices=ApplicantStage.choices, read_only=True)
    rejection_reason = serializers.CharField(read_only=True)
    version = serializers.IntegerField(read_only=True)
    hired_user = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Applicant
        fields = [
            "id",
            "position",
            "position_title",
            "full_name",
            "email",
            "source",
            "stage",
            "rejection_reason",
            "version",
            "stage_changed_at",
            "hired_user",
            "created_at",
        ]
        read_only_fields = ["stage_changed_at", "created_at"]


class ApplicantMoveSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=ApplicantStage.choices)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you read: a stale one answers 409."
    )
    rejection_reason = serializers.ChoiceField(
        choices=RejectionReason.choices, required=False, help_text="Required to reject."
    )
    start_on = DateField(
        required=False, help_text="When hiring: the new rep's first day (default: the position's)."
    )


class ApplicantMoveAnswer(serializers.Serializer):
    applicant = ApplicantSerializer()
    hire = HireAnswer(allow_null=True)


class ApplicantFilter(django_filters.FilterSet):
    position = IdFilter(field_name="position_id")
    stage = django_filters.ChoiceFilter(choices=ApplicantStage.choices)

    class Meta:
        model = Applicant
        fields = []


class ApplicantViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """Applicants of the positions you hire for, with their stage; ``move`` runs the board's moves."""

    selector = applicants_visible_to
    serializer_class = ApplicantSerializer
    filterset_class = ApplicantFilter
    search_fields = ["full_name", "email"]
    ordering_fields = ["stage_changed_at", "id"]
    ordering = ["-stage_changed_at", "-id"]
    http_method_names = ["get", "post", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": MANAGERS, "write": MANAGERS, "move": MANAGERS}

    def shape(self, queryset):
        return applicants_listed(queryset)

    def perform_create(self, serializer):
        applicant = applicant_add(by=self.request.user, **serializer.validated_data)
        serializer.instance = applicants_listed(Applicant.objects).get(pk=applicant.pk)

    @extend_schema(
        request=ApplicantMoveSerializer,
        responses={
            200: ApplicantMoveAnswer,
            409: OpenApiResponse(description="Someone moved the applicant since you read it."),
        },
        summary="Move to a stage (rejected needs a reason; hired makes the new rep)",
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        payload = ApplicantMoveSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = applicant_move(
            by=request.user,
            applicant=self.get_object(),
            stage=data["stage"],
            expected_version=data.get("version"),
            rejection_reason=data.get("rejection_reason", ""),
            start_on=data.get("start_on"),
        )
        hire = None
        if result.hire is not None:
            hire = {
                "user": result.hire.user.pk,
                "username": result.hire.user.username,
                "temporary_password": result.hire.temporary_password,
                "onboarding": result.hire.onboarding.pk if result.hire.onboarding else None,
                "quotas": [
                    {"month": q.period_start.isoformat(), "target": str(q.target)}
                    for q in result.hire.quotas
                ],
            }
        applicant = applicants_listed(Applicant.objects).get(pk=result.applicant.pk)
        return Response(
            {
                "applicant": ApplicantSerializer(applicant, context={"request": request}).data,
                "hire": hire,
            }
        )


# --- Interview notes and scorecards ------------------------------------------------------------


class InterviewNoteSerializer(serializers.ModelSerializer):
    applicant = VisiblePrimaryKeyRelatedField(selector=applicants_visible_to)
    author = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    stage = serializers.CharField(read_only=True)
    text = serializers.CharField(max_length=NOTE_MAX)

    class Meta:
        model = InterviewNote
        fields = ["id", "applicant", "author", "stage", "text", "created_at"]
        read_only_fields = ["created_at"]


class ApplicantChildFilter(django_filters.FilterSet):
    applicant = IdFilter(field_name="applicant_id")


class NoteFilter(ApplicantChildFilter):
    class Meta:
        model = InterviewNote
        fields = []


class InterviewNoteViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    """Interview notes: the hiring manager's and admins' only."""

    selector = interview_notes_visible_to
    serializer_class = InterviewNoteSerializer
    filterset_class = NoteFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": MANAGERS, "write": MANAGERS}

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = interview_note_add(
            by=self.request.user, applicant=data["applicant"], text=data["text"]
        )


class RatingSerializer(serializers.ModelSerializer):
    competency = serializers.ChoiceField(choices=Competency.choices)
    rating = serializers.IntegerField(min_value=RATING_MIN, max_value=RATING_MAX)

    class Meta:
        model = CompetencyRating
        fields = ["competency", "rating"]
        validators = []


class ScorecardSerializer(serializers.ModelSerializer):
    applicant = VisiblePrimaryKeyRelatedField(selector=applicants_visible_to)
    interviewer = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    recommendation = serializers.ChoiceField(choices=Recommendation.choices)
    summary = serializers.CharField(
        max_length=NOTE_MAX, allow_blank=True, required=False, default=""
    )
    ratings = RatingSerializer(many=True, help_text="One line per competency rated, 1 to 5.")

    class Meta:
        model = Scorecard
        fields = [
            "id",
            "applicant",
            "interviewer",
            "recommendation",
            "summary",
            "ratings",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate_ratings(self, value):
        competencies = [line["competency"] for line in value]
        if len(set(competencies)) != len(competencies):
            raise serializers.ValidationError("Rate each competency once.")
        if not value:
            raise serializers.ValidationError("Rate at least one competency.")
        return value


class ScorecardFilter(ApplicantChildFilter):
    class Meta:
        model = Scorecard
        fields = []


class ScorecardViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ScopedViewSet
):
    """Scorecards by competency with a recommendation: the hiring manager's and admins' only."""

    selector = scorecards_visible_to
    serializer_class = ScorecardSerializer
    filterset_class = ScorecardFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": MANAGERS, "write": MANAGERS}

    def shape(self, queryset):
        return scorecards_listed(queryset)

    def perform_create(self, serializer):
        data = serializer.validated_data
        scorecard = scorecard_record(
            by=self.request.user,
            applicant=data["applicant"],
            recommendation=data["recommendation"],
            ratings={line["competency"]: line["rating"] for line in data["ratings"]},
            summary=data.get("summary", ""),
        )
        serializer.instance = scorecards_listed(Scorecard.objects).get(pk=scorecard.pk)


# --- The capacity plan ---------------------------------------------------------------------------


class CapacityQuery(serializers.Serializer):
    manager = serializers.IntegerField(
        required=False, min_value=1, help_text="Whose team (default: you). Admins name any manager."
    )
    year = serializers.IntegerField(required=False, help_text="Default: next year.")
    annual_target = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal(0), required=False,
        help_text="Default: the team's quotas for the year, month by month.",
    )  # fmt: skip
    attainment = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal(300),
        required=False, help_text="Percent of quota a rep wins. Default: the team's last twelve months.",
    )  # fmt: skip
    monthly_quota = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal(0), required=False,
        help_text="A rep's full monthly quota. Default: the team's standard.",
    )  # fmt: skip
    ramp = RampField(required=False, default=DEFAULT_RAMP)
    attrition = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal(0), max_value=Decimal(100),
        required=False, help_text="Percent of the team leaving in a year.",
    )  # fmt: skip

    def validate_year(self, value):
        today = timezone.localdate()
        if not today.year - 1 <= value <= today.year + 5:
            raise serializers.ValidationError(
                f"Give a year from {today.year - 1} to {today.year + 5}."
            )
        return value


class CapacityMonthSerializer(serializers.Serializer):
    month = DateField()
    target = serializers.DecimalField(max_digits=16, decimal_places=2)
    need = serializers.DecimalField(max_digits=12, decimal_places=2)
    retained = serializers.DecimalField(max_digits=12, decimal_places=2)
    new_reps = serializers.IntegerField()
    reps_needed = serializers.DecimalField(max_digits=12, decimal_places=2)
    starting = serializers.IntegerField()
    capacity = serializers.DecimalField(max_digits=12, decimal_places=2)
    covered = serializers.DecimalField(max_digits=16, decimal_places=2)
    shortfall = serializers.DecimalField(max_digits=16, decimal_places=2)


class CapacityAnswer(serializers.Serializer):
    manager = serializers.IntegerField()
    year = serializers.IntegerField()
    monthly_quota = serializers.DecimalField(max_digits=14, decimal_places=2)
    attainment = serializers.DecimalField(max_digits=6, decimal_places=4)
    attainment_source = serializers.CharField(help_text="history, default or entered")
    ramp = serializers.ListField(child=serializers.IntegerField())
    attrition = serializers.DecimalField(max_digits=6, decimal_places=4)
    headcount = serializers.IntegerField()
    open_positions = serializers.IntegerField()
    hires = serializers.IntegerField()
    gap = serializers.IntegerField()
    positions_to_open = serializers.ListField(child=DateField())
    months = CapacityMonthSerializer(many=True)


class OpenPositionsAnswer(serializers.Serializer):
    opened = PositionSerializer(many=True)


class CapacityPlanView(APIView):
    """The capacity plan of a team for a year: reps needed by month against the headcount, and the gap
    as positions to open (POST with the same parameters opens them)."""

    def _plan(self, request, data):
        if not may_hire(request.user):
            raise exceptions.PermissionDenied("Hiring is for managers and admins.")
        query = CapacityQuery(data=data)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        managers = hiring_managers_for(request.user)
        if "manager" not in values and not request.user.is_manager:
            raise exceptions.ValidationError({"manager": ["Name the manager whose team you plan."]})
        manager = managers.filter(pk=values.get("manager", request.user.pk)).first()
        if manager is None:
            raise exceptions.NotFound({"manager": ["No such manager within your reach."]})
        today = timezone.localdate()
        defaults = capacity_defaults(manager, year=values.get("year", today.year + 1), today=today)
        attainment = values.get("attainment")
        attrition = values.get("attrition")
        inputs = capacity_inputs(
            defaults,
            annual_target=values.get("annual_target"),
            attainment=None if attainment is None else attainment / 100,
            monthly_quota=values.get("monthly_quota"),
            ramp=parse_ramp(values["ramp"]),
            attrition=DEFAULT_ATTRITION if attrition is None else attrition / 100,
        )
        plan = capacity_plan(inputs)
        return manager, defaults, plan, values

    def _answer(self, manager, defaults, plan, values) -> dict:
        return {
            "manager": manager.pk,
            "year": defaults.year,
            "monthly_quota": plan.inputs.monthly_quota,
            "attainment": plan.inputs.attainment,
            "attainment_source": "entered"
            if values.get("attainment") is not None
            else defaults.attainment_source,
            "ramp": plan.inputs.ramp,
            "attrition": plan.inputs.attrition,
            "headcount": plan.inputs.headcount,
            "open_positions": plan.inputs.open_positions,
            "hires": plan.hires,
            "gap": plan.gap,
            "positions_to_open": plan.positions_to_open,
            "months": [vars(m) for m in plan.months],
        }

    @extend_schema(
        parameters=[CapacityQuery],
        responses={
            200: CapacityAnswer,
            400: OpenApiResponse(
                description="Bad input, named by field (admins must name the manager)."
            ),
            404: OpenApiResponse(description="A manager outside your reach (or no such manager)."),
        },
    )
    def get(self, request):
        return Response(
            CapacityAnswer(self._answer(*self._plan(request, request.query_params))).data
        )

    @extend_schema(
        request=CapacityQuery,
        responses={
            201: OpenPositionsAnswer,
            400: OpenApiResponse(description="Bad input, named by field; or no position to open."),
            404: OpenApiResponse(description="A manager outside your reach (or no such manager)."),
        },
        summary="Open the plan's gap as positions, one per hire not yet covered",
    )
    def post(self, request):
        manager, _, plan, values = self._plan(request, request.data)
        opened = positions_open_from_plan(
            by=request.user,
            manager=manager,
            starts=plan.positions_to_open,
            ramp=values["ramp"],
        )
        rows = positions_listed(Position.objects.filter(pk__in=[p.pk for p in opened]))
        return Response(
            {"opened": PositionSerializer(rows, many=True, context={"request": request}).data},
            status=status.HTTP_201_CREATED,
        )
