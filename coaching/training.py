"""Every read of training and mentorship: who may see what, the "who is missing what" matrix, onboarding progress.

Admins see everything; a manager sees the records of everyone below them at
any depth, and their own; anyone sees their own assignments, onboarding and
the mentorships they are in (as mentor or mentee). The catalogue is public to
everyone signed in.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields import CharField

from coaching.models import (
    Assignment,
    Course,
    MentorMeeting,
    Mentorship,
    Onboarding,
    OnboardingProgress,
    OnboardingStep,
)
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery, team_of

# A completion that lapses within this many days shows as expiring.
EXPIRING_WITHIN = datetime.timedelta(days=30)
# An open assignment due within this many days reminds its person on the home page.
DUE_SOON = datetime.timedelta(days=7)


class Cell:
    """The states of a matrix cell, worst first."""

    OVERDUE = "overdue"
    EXPIRED = "expired"
    EXPIRING = "expiring"
    ASSIGNED = "assigned"
    DONE = "done"
    MISSING = "missing"

    LABELS = {
        OVERDUE: "Overdue",
        EXPIRED: "Expired",
        EXPIRING: "Expiring",
        ASSIGNED: "Assigned",
        DONE: "Done",
        MISSING: "Missing",
    }


def _team(user: User, field: str) -> Q:
    return Q(**{f"{field}__in": team_member_ids_subquery(user.pk)})


def courses_visible_to(user: User) -> QuerySet[Course]:
    """The catalogue: everyone reads it; only admins see the retired (inactive) courses."""
    if user.is_admin:
        return Course.objects.all()
    return Course.objects.filter(active=True)


def assignments_visible_to(user: User) -> QuerySet[Assignment]:
    """Assignments ``user`` may see: admins all, managers their team's and their own, anyone their own."""
    if user.is_admin:
        return Assignment.objects.all()
    condition = Q(person_id=user.pk)
    if user.is_manager:
        condition |= _team(user, "person_id")
    return Assignment.objects.filter(condition)


def assignments_managed_by(user: User) -> QuerySet[Assignment]:
    """Assignments ``user`` may change for someone else (complete, renew): admins all, managers their team's."""
    if user.is_admin:
        return Assignment.objects.all()
    if user.is_manager:
        return Assignment.objects.filter(_team(user, "person_id"))
    return Assignment.objects.none()


def mentorships_visible_to(user: User) -> QuerySet[Mentorship]:
    """Pairings ``user`` may see: admins all; anyone those they are in; managers those touching their team."""
    if user.is_admin:
        return Mentorship.objects.all()
    condition = Q(mentor_id=user.pk) | Q(mentee_id=user.pk)
    if user.is_manager:
        condition |= _team(user, "mentee_id") | _team(user, "mentor_id")
    return Mentorship.objects.filter(condition)


def mentorships_managed_by(user: User) -> QuerySet[Mentorship]:
    """Pairings ``user`` may end: admins all, managers those whose mentee is in their team."""
    if user.is_admin:
        return Mentorship.objects.all()
    if user.is_manager:
        return Mentorship.objects.filter(_team(user, "mentee_id"))
    return Mentorship.objects.none()


def mentor_meetings_visible_to(user: User) -> QuerySet[MentorMeeting]:
    """Meetings of the pairings ``user`` may see."""
    return MentorMeeting.objects.filter(mentorship__in=mentorships_visible_to(user).values("pk"))


def onboardings_visible_to(user: User) -> QuerySet[Onboarding]:
    """Checklists ``user`` may see: admins all, managers their team's, anyone their own."""
    if user.is_admin:
        return Onboarding.objects.all()
    condition = Q(person_id=user.pk)
    if user.is_manager:
        condition |= _team(user, "person_id")
    return Onboarding.objects.filter(condition)


def onboarding_progress_visible_to(user: User) -> QuerySet[OnboardingProgress]:
    """The steps of the checklists ``user`` may see."""
    return OnboardingProgress.objects.filter(
        onboarding__in=onboardings_visible_to(user).values("pk")
    )


def onboarding_steps() -> QuerySet[OnboardingStep]:
    """The checklist's definition, in order (the active steps)."""
    return OnboardingStep.objects.filter(active=True).order_by("position", "id")


def people_in_scope(user: User) -> QuerySet[User]:
    """Whose training ``user`` oversees: admins everyone active in the reporting line, managers their team, a rep themselves."""
    if user.is_admin:
        return (
            User.objects.filter(is_active=True)
            .filter(Q(manager__isnull=False) | Q(reports__isnull=False))
            .distinct()
        )
    if user.is_manager:
        return team_of(user).filter(is_active=True)
    return User.objects.filter(pk=user.pk)


# --- The "who is missing what" matrix -------------------------------------------------


@dataclass
class MatrixCell:
    state: str
    course_id: int
    completed_on: datetime.date | None = None
    expires_on: datetime.date | None = None
    due_on: datetime.date | None = None
    assignment_id: int | None = None

    @property
    def label(self) -> str:
        return Cell.LABELS[self.state]


@dataclass
class MatrixRow:
    person: User
    cells: list[MatrixCell]

    @property
    def gaps(self) -> int:
        return sum(cell.state != Cell.DONE for cell in self.cells)


@dataclass
class Matrix:
    courses: list[Course]
    rows: list[MatrixRow]
    today: datetime.date
    totals: dict[str, int] = field(default_factory=dict)


def _cell_state(today: datetime.date):
    """The SQL CASE that turns one person's assignments of one course into the cell's state."""
    return Case(
        When(open_due__lt=today, then=Value(Cell.OVERDUE)),
        When(Q(done_on__isnull=False, forever__gt=0), then=Value(Cell.DONE)),
        When(valid_until__lte=today, then=Value(Cell.EXPIRED)),
        When(valid_until__lte=today + EXPIRING_WITHIN, then=Value(Cell.EXPIRING)),
        When(done_on__isnull=False, then=Value(Cell.DONE)),
        When(open_count__gt=0, then=Value(Cell.ASSIGNED)),
        default=Value(Cell.MISSING),
        output_field=CharField(),
    )


def training_matrix(
    user: User,
    *,
    today: datetime.date,
    people: QuerySet[User] | None = None,
    kind: str | None = None,
) -> Matrix:
    """Rows of people ``user`` oversees, columns of the courses that matter to them, each cell's state.

    Columns are the active courses that are required, or assigned to someone
    in the scope (of ``kind`` only, if given). A cell is, worst first: overdue (an open assignment past
    its due day), expired, expiring (within 30 days), done (with the day),
    assigned, or missing. Three queries whatever the size: the people, the
    columns, and the cells aggregated in SQL per person and course.
    """
    scope = people if people is not None else people_in_scope(user)
    scope_ids = scope.values("pk")
    row_people = list(scope.order_by("full_name", "username", "pk"))
    columns = courses_visible_to(user).filter(active=True)
    columns = columns.filter(
        Q(required=True)
        | Exists(Assignment.objects.filter(course=OuterRef("pk"), person_id__in=scope_ids))
    )
    if kind:
        columns = columns.filter(kind=kind)
    courses = list(columns.order_by("-required", "kind", "title", "pk"))
    open_ = Q(completed_on__isnull=True)
    done = Q(completed_on__isnull=False)
    cells = (
        Assignment.objects.filter(person_id__in=scope_ids, course_id__in=[c.pk for c in courses])
        .order_by()
        .values("person_id", "course_id")
        .annotate(
            done_on=Max("completed_on"),
            valid_until=Max("expires_on", filter=done),
            forever=Count("pk", filter=done & Q(expires_on__isnull=True)),
            open_due=Min("due_on", filter=open_),
            open_count=Count("pk", filter=open_),
            open_id=Max("pk", filter=open_, output_field=IntegerField()),
        )
        .annotate(state=_cell_state(today))
    )
    found = {(c["person_id"], c["course_id"]): c for c in cells} if courses else {}
    rows = []
    totals = dict.fromkeys(Cell.LABELS, 0)
    for person in row_people:
        row = []
        for course in courses:
            c = found.get((person.pk, course.pk))
            if c is None:
                cell = MatrixCell(Cell.MISSING, course.pk)
            else:
                cell = MatrixCell(
                    c["state"],
                    course.pk,
                    completed_on=c["done_on"],
                    expires_on=c["valid_until"],
                    due_on=c["open_due"],
                    assignment_id=c["open_id"],
                )
            totals[cell.state] += 1
            row.append(cell)
        rows.append(MatrixRow(person, row))
    return Matrix(courses=courses, rows=rows, today=today, totals=totals)


# --- Lists for the pages and the home panel -----------------------------------------


def assignments_of(person: User) -> QuerySet[Assignment]:
    """One person's assignments, open first by due day, then completed newest first (one query)."""
    return (
        Assignment.objects.filter(person=person)
        .select_related("course", "assigned_by")
        .order_by(
            Case(When(completed_on__isnull=True, then=Value(0)), default=Value(1)),
            "due_on",
            "-completed_on",
            "-id",
        )
    )


def training_due(user: User, *, today: datetime.date) -> dict:
    """What the home panel reminds ``user`` of: their open assignments due within a week or
    overdue, and their completions expiring within 30 days or lapsed, until renewed (two queries)."""
    due = list(
        Assignment.objects.filter(
            person=user, completed_on__isnull=True, due_on__lte=today + DUE_SOON
        )
        .select_related("course")
        .order_by("due_on", "id")
    )
    renewal_open = Assignment.objects.filter(
        person_id=OuterRef("person_id"), course_id=OuterRef("course_id"), completed_on__isnull=True
    )
    newer = Assignment.objects.filter(
        person_id=OuterRef("person_id"),
        course_id=OuterRef("course_id"),
        completed_on__gt=OuterRef("completed_on"),
    )
    expiring = list(
        Assignment.objects.filter(
            person=user,
            course__active=True,
            expires_on__isnull=False,
            expires_on__lte=today + EXPIRING_WITHIN,
        )
        .exclude(Exists(renewal_open))
        .exclude(Exists(newer))
        .select_related("course")
        .order_by("expires_on", "id")
    )
    return {"due": due, "expiring": expiring}


def mentorship_list(user: User) -> list[Mentorship]:
    """The pairings ``user`` sees, active first, each with its meeting count and last meeting (one query)."""
    return list(
        mentorships_visible_to(user)
        .select_related("mentor", "mentee")
        .annotate(meeting_count=Count("meetings"), last_met=Max("meetings__held_on"))
        .order_by(
            Case(When(ended_on__isnull=True, then=Value(0)), default=Value(1)),
            "mentee__full_name",
            "-started_on",
            "pk",
        )
    )


@dataclass
class OnboardingSummary:
    onboarding: Onboarding
    done: int
    total: int
    overdue: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def onboarding_summaries(
    user: User, *, today: datetime.date, people: QuerySet[User] | None = None
) -> list[OnboardingSummary]:
    """Each checklist ``user`` sees (optionally of ``people`` only) with steps done, total and overdue (one query)."""
    rows = onboardings_visible_to(user).select_related("person")
    if people is not None:
        rows = rows.filter(person__in=people.values("pk"))
    rows = rows.annotate(
        done=Count("progress", filter=Q(progress__done_on__isnull=False)),
        total=Count("progress"),
        overdue=Count(
            "progress", filter=Q(progress__done_on__isnull=True, progress__due_on__lt=today)
        ),
    ).order_by("-started_on", "person__full_name", "pk")
    return [OnboardingSummary(o, o.done, o.total, o.overdue) for o in rows]


def onboarding_for_page(user: User, person_id: int) -> Onboarding | None:
    """The checklist of ``person_id`` if ``user`` may see it (one query); None otherwise."""
    return onboardings_visible_to(user).select_related("person").filter(person_id=person_id).first()


def onboarding_checklist(onboarding: Onboarding) -> list[OnboardingProgress]:
    """A checklist's steps in order, with who ticked each (one query)."""
    return list(
        onboarding.progress.select_related("step", "checked_by").order_by("step__position", "pk")
    )
