"""Every read of the ride-alongs that matters: who may see which, the list, and the skills history.

Admins see every ride-along; a manager those of everyone below them at any
depth; anyone their own as the rep (read only). A manager of a sibling team
and a rep of another team see none of them.
"""

import datetime

from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    F,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    Window,
)
from django.db.models.aggregates import Aggregate
from django.db.models.expressions import RowRange
from django.db.models.fields import FloatField
from django.db.models.functions import TruncQuarter

from coaching.insights import team_of_rep
from coaching.models import RideAlong, SkillScore
from coaching.skills import Skill
from pipeline.models import Activity, ActivityKind
from pipeline.selectors import accounts_visible_to, activities_visible_to, deals_visible_to
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery
from salesmgr.sqlite import MEDIAN

# The rolling average of a skill reads the rep's last this many scorecards.
ROLLING_SCORECARDS = 3
# The skills history covers the quarter holding today and this many before it.
HISTORY_QUARTERS = 4


def ride_alongs_visible_to(user: User) -> QuerySet[RideAlong]:
    """Ride-alongs ``user`` may read: admins all, managers their team's at any depth, anyone their own as the rep.

    Each row carries ``deal_shown`` and ``account_shown``: a deal (account)
    since given to someone outside ``user``'s scope is hidden on every page
    and in the API (``RideAlong.shown_deal``, ``shown_account``).
    """
    if user.is_admin:
        return RideAlong.objects.annotate(deal_shown=Value(True), account_shown=Value(True))
    condition = Q(rep_id=user.pk)
    if user.is_manager:
        condition |= Q(rep_id__in=team_member_ids_subquery(user.pk))
    deals = deals_visible_to(user).values("pk")
    accounts = accounts_visible_to(user).values("pk")
    return RideAlong.objects.filter(condition).annotate(
        deal_shown=_holds(Q(deal__isnull=True) | Q(deal__in=deals)),
        account_shown=_holds(Q(account__isnull=True) | Q(account__in=accounts) | Q(deal__in=deals)),
    )


def _holds(condition: Q) -> Case:
    return Case(
        When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def ride_alongs_managed_by(user: User) -> QuerySet[RideAlong]:
    """Ride-alongs ``user`` may change or delete: admins all, managers their team's at any depth."""
    if user.is_admin:
        return RideAlong.objects.all()
    if user.is_manager:
        return RideAlong.objects.filter(rep_id__in=team_member_ids_subquery(user.pk))
    return RideAlong.objects.none()


def skill_scores_visible_to(user: User) -> QuerySet[SkillScore]:
    """Scorecard lines of the ride-alongs ``user`` may read."""
    return SkillScore.objects.filter(ride_along__in=ride_alongs_visible_to(user).values("pk"))


def ride_along_subjects_for(user: User) -> QuerySet[User]:
    """The people ``user`` may record a ride-along with: an admin anyone with a manager, a manager their
    team at any depth (active people only)."""
    people = User.objects.filter(is_active=True)
    if user.is_admin:
        return people.filter(manager__isnull=False)
    if user.is_manager:
        return people.filter(pk__in=team_member_ids_subquery(user.pk))
    return people.none()


def skills_subjects_visible_to(user: User) -> QuerySet[User]:
    """The people whose skills history ``user`` may read: an admin anyone, a manager their team at any
    depth and themselves, anyone else themselves."""
    if user.is_admin:
        return User.objects.all()
    condition = Q(pk=user.pk)
    if user.is_manager:
        condition |= Q(pk__in=team_member_ids_subquery(user.pk))
    return User.objects.filter(condition)


def ride_alongs_listed(queryset: QuerySet[RideAlong]) -> QuerySet[RideAlong]:
    """A list of ride-alongs ready to show: both people, the account, deal and visit joined, the
    scorecard prefetched and its average annotated (two queries, whatever the count)."""
    return (
        queryset.select_related("manager", "rep", "account", "deal", "activity")
        .prefetch_related(Prefetch("scores", queryset=SkillScore.objects.order_by("id")))
        .annotate(average_score=Avg("scores__score"), scored=Count("scores"))
        .order_by("-visited_on", "-id")
    )


def ride_along_for_page(user: User, ride_along_id: int) -> RideAlong | None:
    """One ride-along ``user`` may read, with its people, account, deal, visit and scorecard; None otherwise."""
    return ride_alongs_listed(ride_alongs_visible_to(user).filter(pk=ride_along_id)).first()


def client_visits_of(
    *, by: User, rep_id: int, account_id: int, deal_id: int | None = None
) -> QuerySet[Activity]:
    """The rep's client visits on the account (and on the deal, or on the account alone, when a deal is
    named) that ``by`` may see, newest first: the visits a ride-along may be linked to."""
    visits = activities_visible_to(by).filter(
        kind=ActivityKind.CLIENT_VISIT, author_id=rep_id, account_id=account_id
    )
    if deal_id is not None:
        visits = visits.filter(Q(deal_id=deal_id) | Q(deal__isnull=True))
    return visits.order_by("-occurred_at", "-id")


class Median(Aggregate):
    """The median (PostgreSQL's continuous percentile 0.5) of a column within each group."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite has no percentiles: the same median from an aggregate of salesmgr.sqlite.
        return self.as_sql(
            compiler, connection, function=MEDIAN, template="%(function)s(%(expressions)s)"
        )


def _quarter_start(day: datetime.date) -> datetime.date:
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def history_quarters(today: datetime.date, count: int = HISTORY_QUARTERS) -> list[datetime.date]:
    """The first days of the quarter holding ``today`` and the ``count`` quarters before it, oldest first."""
    first = _quarter_start(today)
    starts = [first]
    for _ in range(count):
        first = _quarter_start(first - datetime.timedelta(days=1))
        starts.append(first)
    return starts[::-1]


def _as_date(value) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value


def skills_history(rep: User, *, today: datetime.date) -> dict:
    """The rep's scores skill by skill over the last quarters, against their team (two queries).

    Per skill: each score with its date, note and the rolling average of the rep's
    last ``ROLLING_SCORECARDS`` scores of that skill up to it; per quarter, the rep's
    average and the team's median score. The team is the one the insights compare
    with (the active reps below the rep's manager, the rep included); its median
    is taken over every score the team's ride-alongs gave the skill that quarter.
    """
    quarters = history_quarters(today)
    since = quarters[0]
    own = (
        SkillScore.objects.filter(
            ride_along__rep_id=rep.pk,
            ride_along__visited_on__gte=since,
            ride_along__visited_on__lte=today,
        )
        .annotate(
            visited_on=F("ride_along__visited_on"),
            rolling=Window(
                Avg("score"),
                partition_by=[F("skill")],
                order_by=[F("ride_along__visited_on").asc(), F("ride_along_id").asc()],
                frame=RowRange(start=-(ROLLING_SCORECARDS - 1), end=0),
            ),
        )
        .order_by("skill", "ride_along__visited_on", "ride_along_id")
        .values("skill", "score", "note", "visited_on", "ride_along_id", "rolling")
    )
    team = (
        SkillScore.objects.filter(
            ride_along__rep__in=team_of_rep(rep).values("pk"),
            ride_along__visited_on__gte=since,
            ride_along__visited_on__lte=today,
        )
        .annotate(quarter=TruncQuarter("ride_along__visited_on"))
        .values("quarter", "skill")
        .annotate(
            team_median=Median("score"),
            team_scores=Count("pk"),
            team_reps=Count("ride_along__rep_id", distinct=True),
            rep_average=Avg("score", filter=Q(ride_along__rep_id=rep.pk)),
            rep_scores=Count("pk", filter=Q(ride_along__rep_id=rep.pk)),
        )
        .order_by("quarter", "skill")
    )
    by_quarter = {(_as_date(row["quarter"]), row["skill"]): row for row in team}
    points: dict[str, list[dict]] = {skill: [] for skill in Skill.values}
    for row in own:
        points[row["skill"]].append(
            {
                "visited_on": row["visited_on"],
                "score": row["score"],
                "note": row["note"],
                "ride_along": row["ride_along_id"],
                "rolling_average": round(float(row["rolling"]), 2),
            }
        )
    skills = []
    for skill, label in Skill.choices:
        series = []
        for start in quarters:
            row = by_quarter.get((start, skill), {})
            series.append(
                {
                    "quarter": _quarter_label(start),
                    "start": start,
                    "rep_average": _rounded(row.get("rep_average")),
                    "rep_scores": row.get("rep_scores", 0),
                    "team_median": _rounded(row.get("team_median")),
                    "team_scores": row.get("team_scores", 0),
                    "team_reps": row.get("team_reps", 0),
                }
            )
        scores = points[skill]
        skills.append(
            {
                "skill": skill,
                "label": label,
                "scores": scores,
                "latest": scores[-1]["score"] if scores else None,
                "rolling_average": scores[-1]["rolling_average"] if scores else None,
                "quarters": series,
            }
        )
    return {
        "rep": {"id": rep.pk, "name": rep.display_name},
        "since": since,
        "today": today,
        "rolling_scorecards": ROLLING_SCORECARDS,
        "skills": skills,
    }


def _rounded(value) -> float | None:
    return None if value is None else round(float(value), 2)


def _quarter_label(start: datetime.date) -> str:
    return f"Q{(start.month - 1) // 3 + 1} {start.year}"
