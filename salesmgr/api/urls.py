"""The URL table of the REST API (``/api/v1/``); it knows every app's resources."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from coaching.api import ActionItemViewSet, MeetingViewSet, SeriesViewSet, TalkingPointViewSet
from coaching.api_celebrations import MilestoneViewSet, ShoutOutViewSet
from coaching.api_hiring import (
    ApplicantViewSet,
    CapacityPlanView,
    InterviewNoteViewSet,
    PositionViewSet,
    ScorecardViewSet,
)
from coaching.api_insights import InsightsView
from coaching.api_ride_alongs import RideAlongViewSet, SkillsHistoryView
from coaching.api_sessions import SessionViewSet
from coaching.api_streaks import PersonalBestsView, StreaksView
from coaching.api_team_meetings import TeamMeetingViewSet
from coaching.api_training import (
    AssignmentViewSet,
    CourseViewSet,
    MentorMeetingViewSet,
    MentorshipViewSet,
    OnboardingStepViewSet,
    OnboardingViewSet,
)
from coaching.api_wins import WinsView
from pipeline.api import (
    AccountViewSet,
    ActivityViewSet,
    ContactViewSet,
    DealViewSet,
    ExchangeRateViewSet,
    LostReasonViewSet,
    PipelineViewSet,
    ProductViewSet,
    StageViewSet,
)
from pipeline.api.imports import ImportViewSet
from pipeline.api.territories import (
    HandoverViewSet,
    RealignmentViewSet,
    TerritoryRuleViewSet,
    TerritoryWithRulesViewSet,
)
from pipeline.webhooks.api import WebhookDeliveryViewSet, WebhookSubscriptionViewSet
from quotas.api import ManagerTargetViewSet, QuotaViewSet
from reports.api import (
    AccuracyView,
    ForecastView,
    FunnelView,
    GapView,
    RefreshStateView,
    RefreshView,
    SeriesView,
)
from reports.budget.api import TeamBudgetViewSet
from reports.compensation.api import CommissionPlanViewSet, CommissionStatementViewSet
from salesmgr.api.people import TokenView, UserViewSet
from salesmgr.audit.api import AuditEventViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("users", UserViewSet, basename="user")
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("stages", StageViewSet, basename="stage")
router.register("accounts", AccountViewSet, basename="account")
router.register("contacts", ContactViewSet, basename="contact")
router.register("products", ProductViewSet, basename="product")
router.register("lost-reasons", LostReasonViewSet, basename="lostreason")
router.register("imports", ImportViewSet, basename="import")
router.register("exchange-rates", ExchangeRateViewSet, basename="exchangerate")
router.register("deals", DealViewSet, basename="deal")
router.register("activities", ActivityViewSet, basename="activity")
router.register("territories", TerritoryWithRulesViewSet, basename="territory")
router.register("territory-rules", TerritoryRuleViewSet, basename="territoryrule")
router.register("territory-realignments", RealignmentViewSet, basename="territoryrealignment")
router.register("handovers", HandoverViewSet, basename="handover")
router.register("webhooks/deliveries", WebhookDeliveryViewSet, basename="webhookdelivery")
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")
router.register("quotas", QuotaViewSet, basename="quota")
router.register("manager-targets", ManagerTargetViewSet, basename="managertarget")
router.register("one-on-one-series", SeriesViewSet, basename="oneononeseries")
router.register("one-on-ones", MeetingViewSet, basename="oneonone")
router.register("talking-points", TalkingPointViewSet, basename="talkingpoint")
router.register("action-items", ActionItemViewSet, basename="actionitem")
router.register("milestones", MilestoneViewSet, basename="milestone")
router.register("shout-outs", ShoutOutViewSet, basename="shoutout")
router.register("coaching-sessions", SessionViewSet, basename="coachingsession")
router.register("courses", CourseViewSet, basename="course")
router.register("course-assignments", AssignmentViewSet, basename="courseassignment")
router.register("mentorships", MentorshipViewSet, basename="mentorship")
router.register("mentor-meetings", MentorMeetingViewSet, basename="mentormeeting")
router.register("onboarding", OnboardingViewSet, basename="onboarding")
router.register("onboarding-steps", OnboardingStepViewSet, basename="onboardingstep")
router.register("ride-alongs", RideAlongViewSet, basename="ridealong")
router.register("team-meetings", TeamMeetingViewSet, basename="teammeeting")
router.register("positions", PositionViewSet, basename="position")
router.register("applicants", ApplicantViewSet, basename="applicant")
router.register("interview-notes", InterviewNoteViewSet, basename="interviewnote")
router.register("scorecards", ScorecardViewSet, basename="scorecard")
router.register("commission-plans", CommissionPlanViewSet, basename="commissionplan")
router.register("commission-statements", CommissionStatementViewSet, basename="commissionstatement")
router.register("team-budgets", TeamBudgetViewSet, basename="teambudget")
router.register("audit-events", AuditEventViewSet, basename="auditevent")

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("metrics/funnel/", FunnelView.as_view(), name="metrics-funnel"),
    path("metrics/series/", SeriesView.as_view(), name="metrics-series"),
    path("metrics/refresh/", RefreshView.as_view(), name="metrics-refresh"),
    path(
        "metrics/refresh/<str:task_id>/", RefreshStateView.as_view(), name="metrics-refresh-state"
    ),
    path("forecasts/", ForecastView.as_view(), name="forecasts"),
    path("forecasts/accuracy/", AccuracyView.as_view(), name="forecasts-accuracy"),
    path("gap/", GapView.as_view(), name="gap-figures"),
    path("insights/", InsightsView.as_view(), name="insights-figures"),
    path("wins/", WinsView.as_view(), name="wins"),
    path("capacity-plan/", CapacityPlanView.as_view(), name="capacity-plan"),
    path("skills-history/", SkillsHistoryView.as_view(), name="skills-history-figures"),
    path("streaks/", StreaksView.as_view(), name="streaks"),
    path("personal-bests/", PersonalBestsView.as_view(), name="personal-bests"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
