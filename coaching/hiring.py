"""Every read of hiring: positions, applicants, interview notes and scorecards, the board, the capacity plan's data.

Who sees what: a position and everything about its applicants (their notes and scorecards above
all) belong to the position's manager (the hiring manager) and to admins. Nobody else reads them:
not the team's reps, not another manager, not the hiring manager's own manager. Every selector
below starts from that rule, so pages, API resources and searches built on them cannot leak.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from coaching.hiring_capacity import CapacityInputs, month_starts
from coaching.models import (
    OPEN_STAGES,
    Applicant,
    ApplicantStage,
    CompetencyRating,
    InterviewNote,
    Position,
    PositionStatus,
    Scorecard,
)
from pipeline.periods import Period
from quotas.models import Quota, QuotaPeriod, Territory
from quotas.selectors import team_targets
from reports.runners.attainment import quota_attainment
from salesmgr.models import Role, User
from salesmgr.selectors import team_member_ids_subquery

# With no history, a plan assumes reps win this share of their quota.
DEFAULT_ATTAINMENT = Decimal("0.80")
DEFAULT_ATTRITION = Decimal("0.15")
CARDS_PER_COLUMN = 25
MORE_CARDS = 50  # "Load more" brings the next cards of a column in larger pages


def may_hire(user: User) -> bool:
    """Whether ``user`` may use hiring at all: managers and admins."""
    return bool(user.is_authenticated and (user.is_admin or user.is_manager))


def positions_visible_to(user: User) -> QuerySet[Position]:
    """Positions ``user`` may see: their own as hiring manager; admins every one."""
    if user.is_admin:
        return Position.objects.all()
    if not user.is_manager:
        return Position.objects.none()
    return Position.objects.filter(manager=user)


def applicants_visible_to(user: User) -> QuerySet[Applicant]:
    """Applicants of the positions ``user`` may see."""
    if user.is_admin:
        return Applicant.objects.all()
    if not user.is_manager:
        return Applicant.objects.none()
    return Applicant.objects.filter(position__manager=user)


def interview_notes_visible_to(user: User) -> QuerySet[InterviewNote]:
    """Interview notes: the hiring manager's applicants' and, for admins, all."""
    if user.is_admin:
        return InterviewNote.objects.all()
    if not user.is_manager:
        return InterviewNote.objects.none()
    return InterviewNote.objects.filter(applicant__position__manager=user)


def scorecards_visible_to(user: User) -> QuerySet[Scorecard]:
    """Scorecards: the hiring manager's applicants' and, for admins, all."""
    if user.is_admin:
        return Scorecard.objects.all()
    if not user.is_manager:
        return Scorecard.objects.none()
    return Scorecard.objects.filter(applicant__position__manager=user)


def hiring_managers_for(user: User) -> QuerySet[User]:
    """Whom ``user`` may open positions for: themselves (a manager); admins any active manager."""
    if user.is_admin:
        return User.objects.filter(role=Role.MANAGER, is_active=True)
    if user.is_manager:
        return User.objects.filter(pk=user.pk)
    return User.objects.none()


def territories_for_positions() -> QuerySet[Territory]:
    return Territory.objects.order_by("name")


def positions_listed(queryset: QuerySet[Position]) -> QuerySet[Position]:
    """Positions with what a list shows: manager, territory, who filled it, applicant counts (one query)."""
    return queryset.select_related("manager", "territory", "filled_by").annotate(
        applicant_count=Count("applicants", distinct=True),
        in_running=Count("applicants", filter=Q(applicants__stage__in=OPEN_STAGES), distinct=True),
    )


def applicants_listed(queryset: QuerySet[Applicant]) -> QuerySet[Applicant]:
    return queryset.select_related("position", "position__manager", "hired_user")


def applicant_for_page(user: User, applicant_id: int) -> Applicant | None:
    return applicants_listed(applicants_visible_to(user)).filter(pk=applicant_id).first()


def applicant_notes(applicant: Applicant) -> list[InterviewNote]:
    return list(applicant.notes.select_related("author"))


def applicant_scorecards(applicant: Applicant) -> list[Scorecard]:
    return list(applicant.scorecards.select_related("interviewer").prefetch_related("ratings"))


def scorecards_listed(queryset: QuerySet[Scorecard]) -> QuerySet[Scorecard]:
    return queryset.select_related("interviewer").prefetch_related("ratings")


def competency_averages(applicant: Applicant) -> dict[str, float]:
    """The applicant's average rating per competency over their scorecards (one query)."""
    rows = (
        CompetencyRating.objects.filter(scorecard__applicant=applicant)
        .values("competency")
        .annotate(avg=Avg("rating"))
    )
    return {row["competency"]: round(float(row["avg"]), 1) for row in rows}


# --- The board ------------------------------------------------------------------------


@dataclass
class Column:
    stage: str
    label: str
    kind: str  # "open", "won" (hired) or "lost" (rejected): what board.js reads
    count: int
    cards: list
    has_more: bool


BOARD_KIND = {ApplicantStage.HIRED: "won", ApplicantStage.REJECTED: "lost"}


def board_columns(
    applicants: QuerySet[Applicant], *, limit: int = CARDS_PER_COLUMN
) -> list[Column]:
    """The applicant board: a column per stage with its count and first cards (two queries)."""
    counts = dict(applicants.order_by().values_list("stage").annotate(n=Count("pk")))
    cards: dict[str, list] = {stage: [] for stage in ApplicantStage.values}
    # One query for every column's first cards: each row is numbered within its stage.
    ranked = (
        applicants_listed(applicants)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("stage")],
                order_by=[F("stage_changed_at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=limit)
        .order_by("-stage_changed_at", "-id")
    )
    for applicant in ranked:
        cards[applicant.stage].append(applicant)
    return [
        Column(
            stage=stage,
            label=label,
            kind=BOARD_KIND.get(stage, "open"),
            count=counts.get(stage, 0),
            cards=cards[stage],
            has_more=counts.get(stage, 0) > len(cards[stage]),
        )
        for stage, label in ApplicantStage.choices
    ]


def column_cards(
    applicants: QuerySet[Applicant], *, stage: str, offset: int, limit: int = MORE_CARDS
) -> tuple[list[Applicant], bool]:
    """A column's cards after the first ``offset``, in the board's order, and whether more follow (one query)."""
    rows = list(
        applicants_listed(applicants)
        .filter(stage=stage)
        .order_by("-stage_changed_at", "-id")[offset : offset + limit + 1]
    )
    return rows[:limit], len(rows) > limit


# --- The capacity plan's data ------------------------------------------------------------


def team_reps(manager: User) -> QuerySet[User]:
    """The active reps below ``manager`` at any depth: the team's headcount."""
    return User.objects.filter(
        pk__in=team_member_ids_subquery(manager.pk), role=Role.REP, is_active=True
    )


def team_standard_quota(manager: User, *, before: datetime.date) -> Decimal | None:
    """The team's standard per-rep monthly quota: the average monthly quota of its active reps over the
    twelve months before ``before`` (one query); None when they have none."""
    since = month_starts(before.replace(day=1), 1)[0].replace(year=before.year - 1)
    figure = Quota.objects.filter(
        owner__in=team_reps(manager),
        period=QuotaPeriod.MONTH,
        period_start__gte=since,
        period_start__lt=before,
    ).aggregate(avg=Avg("target"))["avg"]
    return None if figure is None else Decimal(figure).quantize(Decimal("0.01"))


def team_attainment(manager: User, *, today: datetime.date) -> Decimal | None:
    """The team's reps' attainment over the last twelve months: won value over quota, summed over the
    reps in SQL (``reports``' attainment figures); None without quotas in that time."""
    end = today.replace(day=1)
    window = Period(end.replace(year=end.year - 1), end)
    rows = quota_attainment(Q(owner__in=team_reps(manager)), {"year": window})
    won = sum((row["year"]["won"] for row in rows.values()), Decimal(0))
    target = sum((row["year"]["target"] for row in rows.values()), Decimal(0))
    if target <= 0:
        return None
    return (Decimal(won) / target).quantize(Decimal("0.01"))


def team_monthly_targets(manager: User, months: list[datetime.date]) -> list[Decimal]:
    """The team's target in each month (the manager's target: own quota or the roll-up, two queries)."""
    windows = {
        f"m{i}": (first, month_starts(first, 2)[1] - datetime.timedelta(days=1))
        for i, first in enumerate(months)
    }
    figures = team_targets(manager.pk, windows).get(manager.pk, {})
    return [
        figures[f"m{i}"].amount if f"m{i}" in figures else Decimal("0.00")
        for i in range(len(months))
    ]


def open_positions_count(manager: User) -> int:
    return Position.objects.filter(manager=manager, status=PositionStatus.OPEN).count()


@dataclass(frozen=True)
class CapacityDefaults:
    year: int
    targets: list[Decimal]
    target_source: str  # "quotas" or "entered"
    attainment: Decimal
    attainment_source: str  # "history" or "default"
    monthly_quota: Decimal | None
    headcount: int
    open_positions: int


def capacity_defaults(manager: User, *, year: int, today: datetime.date) -> CapacityDefaults:
    """What the plan starts from before the manager overrides anything (a fixed number of queries)."""
    months = month_starts(datetime.date(year, 1, 1))
    targets = team_monthly_targets(manager, months)
    history = team_attainment(manager, today=today)
    return CapacityDefaults(
        year=year,
        targets=targets,
        target_source="quotas",
        attainment=history if history is not None else DEFAULT_ATTAINMENT,
        attainment_source="history" if history is not None else "default",
        monthly_quota=team_standard_quota(manager, before=today),
        headcount=team_reps(manager).count(),
        open_positions=open_positions_count(manager),
    )


def capacity_inputs(
    defaults: CapacityDefaults,
    *,
    annual_target: Decimal | None = None,
    attainment: Decimal | None = None,
    monthly_quota: Decimal | None = None,
    ramp: list[int],
    attrition: Decimal,
) -> CapacityInputs:
    """The plan's inputs: the defaults, with what the manager entered in their place. An entered annual
    target is spread evenly over the twelve months."""
    months = month_starts(datetime.date(defaults.year, 1, 1))
    if annual_target is not None:
        share = (annual_target / 12).quantize(Decimal("0.01"))
        targets = [share] * 12
    else:
        targets = defaults.targets
    return CapacityInputs(
        months=months,
        targets=targets,
        monthly_quota=monthly_quota or defaults.monthly_quota or Decimal(0),
        attainment=attainment if attainment is not None else defaults.attainment,
        ramp=ramp,
        attrition=attrition,
        headcount=defaults.headcount,
        open_positions=defaults.open_positions,
    )
