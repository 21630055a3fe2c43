"""Training and mentorship over REST: the catalogue, assignments, mentor pairings and meetings, onboarding.

Thin: validate, call a service or a selector, render. Every record comes from
a visibility selector of ``coaching.training``; who may write is the role
table of each viewset, and the service decides the rest (the person must be
in the manager's team, the assignment the caller's own...).
"""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from coaching.models import (
    Assignment,
    Course,
    CourseKind,
    MentorMeeting,
    Mentorship,
    Onboarding,
    OnboardingProgress,
    OnboardingStep,
)
from coaching.services import (
    assignment_complete,
    assignment_renew,
    course_create,
    course_update,
    courses_assign,
    mentor_meeting_record,
    mentorship_create,
    mentorship_end,
    onboarding_start,
    onboarding_step_create,
    onboarding_step_tick,
    onboarding_step_update,
)
from coaching.services.training import NOTES_MAX, TITLE_MAX
from coaching.training import (
    assignments_visible_to,
    courses_visible_to,
    mentor_meetings_visible_to,
    mentorships_visible_to,
    onboarding_progress_visible_to,
    onboarding_steps,
    onboardings_visible_to,
)
from salesmgr.api.base import (
    ADMINS,
    EVERYONE,
    MANAGERS,
    IdempotentCreateMixin,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    require_json_types,
)
from salesmgr.api.fields import DateField
from salesmgr.selectors import users_visible_to

# --- The catalogue --------------------------------------------------------------------


class CourseSerializer(serializers.ModelSerializer):
    title = serializers.CharField(max_length=TITLE_MAX)
    description = serializers.CharField(
        max_length=NOTES_MAX, allow_blank=True, required=False, trim_whitespace=False
    )
    kind = serializers.ChoiceField(choices=CourseKind.choices, required=False)
    valid_for_days = serializers.IntegerField(
        min_value=1,
        max_value=3660,
        allow_null=True,
        required=False,
        help_text="Days a completion stays valid; null: it never expires.",
    )

    class Meta:
        model = Course
        fields = [
            "id",
            "title",
            "description",
            "kind",
            "valid_for_days",
            "required",
            "active",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        validators = []  # course_create names a duplicate title itself


class CourseFilter(django_filters.FilterSet):
    class Meta:
        model = Course
        fields = ["kind", "required", "active"]


class CourseViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    """The course and certification catalogue: everyone reads it, admins edit it."""

    selector = courses_visible_to
    serializer_class = CourseSerializer
    filterset_class = CourseFilter
    ordering_fields = ["title", "id"]
    ordering = ["title", "id"]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    role_rules = {"read": EVERYONE, "create": ADMINS, "partial_update": ADMINS}

    def perform_create(self, serializer):
        serializer.instance = course_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = course_update(
            course=serializer.instance, by=self.request.user, **serializer.validated_data
        )


# --- Assignments ----------------------------------------------------------------------


class AssignmentSerializer(serializers.ModelSerializer):
    course_title = serializers.CharField(source="course.title", read_only=True)
    course_kind = serializers.CharField(source="course.kind", read_only=True)
    person_name = serializers.CharField(source="person.display_name", read_only=True)

    class Meta:
        model = Assignment
        fields = [
            "id",
            "course",
            "course_title",
            "course_kind",
            "person",
            "person_name",
            "assigned_by",
            "assigned_on",
            "due_on",
            "completed_on",
            "expires_on",
        ]
        read_only_fields = fields


class AssignSerializer(serializers.Serializer):
    course = VisiblePrimaryKeyRelatedField(selector=courses_visible_to)
    people = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to,
        many=True,
        required=False,
        help_text="Whom to assign it to; or send team: true for your whole team.",
    )
    team = serializers.BooleanField(required=False, default=False)
    due_on = DateField()

    def validate(self, data):
        if not data.get("team") and not data.get("people"):
            raise serializers.ValidationError({"people": ["Choose at least one person."]})
        if data.get("team") and data.get("people"):
            raise serializers.ValidationError({"team": ["Send either people or team: true."]})
        return data


class AssignedSerializer(serializers.Serializer):
    assigned = AssignmentSerializer(many=True)
    already_held = serializers.IntegerField(
        help_text="How many of the people already had it open or valid (left as they were)."
    )


class CompleteSerializer(serializers.Serializer):
    completed_on = DateField(required=False, help_text="Default: today.")


class RenewSerializer(serializers.Serializer):
    due_on = DateField()


class AssignmentFilter(django_filters.FilterSet):
    person = IdFilter(field_name="person_id")
    course = IdFilter(field_name="course_id")
    open = django_filters.BooleanFilter(
        field_name="completed_on", lookup_expr="isnull", help_text="true: not yet completed."
    )
    due_before = django_filters.DateFilter(field_name="due_on", lookup_expr="lte")
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lte")


class AssignmentViewSet(
    IdempotentCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet
):
    """Courses assigned to people: managers assign them to their team (one person, several, or all);
    the person (or a manager) completes them; managers renew a completed one."""

    selector = assignments_visible_to
    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter
    ordering_fields = ["due_on", "assigned_on", "completed_on", "expires_on", "id"]
    ordering = ["due_on", "id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": MANAGERS, "complete": EVERYONE, "renew": MANAGERS}

    def shape(self, queryset):
        return queryset.select_related("course", "person")

    @extend_schema(
        request=AssignSerializer,
        responses={201: AssignedSerializer},
        summary="Assign a course to people or to your whole team (idempotent)",
    )
    def create(self, request, *args, **kwargs):
        return self.run_idempotent(request, lambda: self._assign(request))

    def _assign(self, request):
        payload = AssignSerializer(data=request.data, context=self.get_serializer_context())
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        people = data.get("people") or []
        created = courses_assign(
            by=request.user,
            course=data["course"],
            due_on=data["due_on"],
            people=people,
            team=data["team"],
        )
        asked = len({p.pk for p in people}) if people else None
        held = (asked - len(created)) if asked is not None else 0
        rows = (
            Assignment.objects.filter(pk__in=[a.pk for a in created])
            .select_related("course", "person")
            .order_by("person_id")
        )
        body = {"assigned": AssignmentSerializer(rows, many=True).data, "already_held": held}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CompleteSerializer, responses=AssignmentSerializer, summary="Mark it completed"
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        payload = CompleteSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        done = assignment_complete(
            assignment=self.get_object(),
            by=request.user,
            completed_on=payload.validated_data.get("completed_on"),
        )
        return Response(self.get_serializer(self.shape(Assignment.objects).get(pk=done.pk)).data)

    @extend_schema(
        request=RenewSerializer,
        responses={201: AssignmentSerializer},
        summary="Assign a completed course again (a certification's renewal)",
    )
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        payload = RenewSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        renewal = assignment_renew(
            assignment=self.get_object(), by=request.user, due_on=payload.validated_data["due_on"]
        )
        row = self.shape(Assignment.objects).get(pk=renewal.pk)
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)


# --- Mentorships ----------------------------------------------------------------------


class MentorshipSerializer(serializers.ModelSerializer):
    mentor = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    mentee = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    mentor_name = serializers.CharField(source="mentor.display_name", read_only=True)
    mentee_name = serializers.CharField(source="mentee.display_name", read_only=True)
    goals = serializers.CharField(
        max_length=NOTES_MAX, allow_blank=True, required=False, trim_whitespace=False
    )
    started_on = DateField(required=False, help_text="Default: today.")

    class Meta:
        model = Mentorship
        fields = [
            "id",
            "mentor",
            "mentor_name",
            "mentee",
            "mentee_name",
            "started_on",
            "ended_on",
            "goals",
        ]
        read_only_fields = ["ended_on"]
        validators = []  # mentorship_create names a second active mentor itself


class EndSerializer(serializers.Serializer):
    ended_on = DateField(required=False, help_text="Default: today.")


class MentorshipFilter(django_filters.FilterSet):
    mentor = IdFilter(field_name="mentor_id")
    mentee = IdFilter(field_name="mentee_id")
    active = django_filters.BooleanFilter(
        field_name="ended_on", lookup_expr="isnull", help_text="true: not ended."
    )


class MentorshipViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """Mentor pairings: a manager pairs a senior rep with a newer one in their team; the pair reads it."""

    selector = mentorships_visible_to
    serializer_class = MentorshipSerializer
    filterset_class = MentorshipFilter
    ordering_fields = ["started_on", "id"]
    ordering = ["-started_on", "id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": MANAGERS, "end": MANAGERS}

    def shape(self, queryset):
        return queryset.select_related("mentor", "mentee")

    def perform_create(self, serializer):
        serializer.instance = mentorship_create(by=self.request.user, **serializer.validated_data)

    @extend_schema(request=EndSerializer, responses=MentorshipSerializer, summary="End a pairing")
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        payload = EndSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        ended = mentorship_end(
            mentorship=self.get_object(),
            by=request.user,
            ended_on=payload.validated_data.get("ended_on"),
        )
        return Response(self.get_serializer(ended).data)


class MentorMeetingSerializer(serializers.ModelSerializer):
    mentorship = VisiblePrimaryKeyRelatedField(selector=mentorships_visible_to)
    notes = serializers.CharField(
        max_length=NOTES_MAX, allow_blank=True, required=False, trim_whitespace=False
    )

    class Meta:
        model = MentorMeeting
        fields = ["id", "mentorship", "held_on", "notes", "recorded_by"]
        read_only_fields = ["recorded_by"]


class MentorMeetingFilter(django_filters.FilterSet):
    mentorship = IdFilter(field_name="mentorship_id")


class MentorMeetingViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """Meetings of mentor pairings: the mentor, the mentee or the mentee's managers record them."""

    selector = mentor_meetings_visible_to
    serializer_class = MentorMeetingSerializer
    filterset_class = MentorMeetingFilter
    ordering_fields = ["held_on", "id"]
    ordering = ["-held_on", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": EVERYONE}

    def perform_create(self, serializer):
        serializer.instance = mentor_meeting_record(
            by=self.request.user, **serializer.validated_data
        )


# --- Onboarding -----------------------------------------------------------------------


class OnboardingStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = OnboardingStep
        fields = ["id", "position", "title", "due_after_days"]
        read_only_fields = fields


class StepEditSerializer(serializers.ModelSerializer):
    title = serializers.CharField(max_length=TITLE_MAX)
    position = serializers.IntegerField(min_value=1, max_value=1000)
    due_after_days = serializers.IntegerField(min_value=0, max_value=365, required=False)

    class Meta:
        model = OnboardingStep
        fields = ["id", "position", "title", "due_after_days", "active"]
        validators = []  # the service names a position already taken


class ProgressSerializer(serializers.ModelSerializer):
    step = OnboardingStepSerializer(read_only=True)

    class Meta:
        model = OnboardingProgress
        fields = ["id", "step", "due_on", "done_on", "checked_by"]
        read_only_fields = fields


class OnboardingSerializer(serializers.ModelSerializer):
    person = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    person_name = serializers.CharField(source="person.display_name", read_only=True)
    started_on = DateField(required=False, help_text="Default: today.")
    steps = ProgressSerializer(source="progress", many=True, read_only=True)

    class Meta:
        model = Onboarding
        fields = ["id", "person", "person_name", "started_on", "started_by", "steps"]
        read_only_fields = ["started_by"]
        validators = []  # onboarding_start names an onboarding already started


class TickSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=1, help_text="The step's id (of the checklist).")
    done = serializers.BooleanField(required=False, default=True)


class OnboardingFilter(django_filters.FilterSet):
    person = IdFilter(field_name="person_id")


class OnboardingViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """New reps' onboarding checklists with each step's progress: managers start one for their new rep;
    the rep and their managers tick its steps."""

    selector = onboardings_visible_to
    serializer_class = OnboardingSerializer
    filterset_class = OnboardingFilter
    ordering_fields = ["started_on", "id"]
    ordering = ["-started_on", "id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": MANAGERS, "tick": EVERYONE}

    def shape(self, queryset):
        steps = OnboardingProgress.objects.select_related("step").order_by("step__position", "pk")
        return queryset.select_related("person").prefetch_related(Prefetch("progress", steps))

    def perform_create(self, serializer):
        serializer.instance = onboarding_start(by=self.request.user, **serializer.validated_data)

    @extend_schema(
        request=TickSerializer, responses=OnboardingSerializer, summary="Tick or untick a step"
    )
    @action(detail=True, methods=["post"])
    def tick(self, request, pk=None):
        onboarding = self.get_object()
        payload = TickSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        progress = (
            onboarding_progress_visible_to(request.user)
            .filter(onboarding=onboarding, step_id=payload.validated_data["step"])
            .first()
        )
        if progress is None:
            raise serializers.ValidationError({"step": ["No such step on this checklist."]})
        onboarding_step_tick(
            progress=progress, by=request.user, done=payload.validated_data["done"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=onboarding.pk)).data)


def _steps_visible_to(user):
    """Everyone reads the checklist's active steps; admins the retired ones too."""
    return OnboardingStep.objects.all() if user.is_admin else onboarding_steps()


class OnboardingStepViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    """The onboarding checklist's steps, in order: everyone reads them, admins edit them."""

    selector = _steps_visible_to
    serializer_class = StepEditSerializer
    ordering_fields = ["position", "id"]
    ordering = ["position", "id"]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    role_rules = {"read": EVERYONE, "create": ADMINS, "partial_update": ADMINS}

    def perform_create(self, serializer):
        serializer.instance = onboarding_step_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = onboarding_step_update(
            step=serializer.instance, by=self.request.user, **serializer.validated_data
        )
