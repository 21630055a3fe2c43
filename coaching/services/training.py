"""Writes of training and mentorship: the catalogue, assignments, mentor pairings and onboarding.

Each service checks who may act (through ``coaching.training``'s selectors)
and the rules (the ``*_errors`` checks below, which write nothing) before it
writes; a refusal writes nothing.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

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
from coaching.training import (
    assignments_managed_by,
    mentorships_managed_by,
    mentorships_visible_to,
    onboarding_steps,
    onboardings_visible_to,
)
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for, owners_acted_for, team_of

Errors = dict[str, str]
TITLE_MAX = 200
NOTES_MAX = 20_000
# How far ahead a due day may be.
DUE_WITHIN = datetime.timedelta(days=366 * 2)

NOT_YOUR_TEAM = "Only the person's managers and admins do this."
ADMINS_ONLY = "Only admins edit the course catalogue."


# --- Checks ---------------------------------------------------------------------------


def course_errors(
    *, title: str | None, kind: str | None, valid_for_days: int | None, exclude_pk=None
) -> Errors:
    """A catalogue entry: a title not already taken, a known kind, a validity of at least a day."""
    errors: Errors = {}
    if not title or not title.strip():
        errors["title"] = "Give the course a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep it to {TITLE_MAX} characters."
    elif Course.objects.filter(title__iexact=title.strip()).exclude(pk=exclude_pk).exists():
        errors["title"] = "A course with this title already exists."
    if kind not in CourseKind.values:
        errors["kind"] = "Choose course or certification."
    if valid_for_days is not None and not 1 <= valid_for_days <= 3660:
        errors["valid_for_days"] = "Give from 1 to 3660 days, or leave it empty."
    return errors


def assign_errors(
    *,
    by: User,
    course: Course | None,
    people: list[User],
    due_on: datetime.date | None,
    today: datetime.date,
) -> Errors:
    """Whether ``by`` may assign ``course`` to ``people`` by ``due_on``."""
    errors: Errors = {}
    if course is None:
        errors["course"] = "Choose a course."
    elif not course.active:
        errors["course"] = "This course is retired."
    if due_on is None:
        errors["due_on"] = "Give the day it is due."
    elif due_on < today:
        errors["due_on"] = "The due day is in the past."
    elif due_on > today + DUE_WITHIN:
        errors["due_on"] = "Give a due day within two years."
    if not people:
        errors["people"] = "Choose at least one person."
    elif not (by.is_admin or by.is_manager):
        errors["people"] = "Only managers and admins assign courses."
    else:
        ids = {p.pk for p in people}
        allowed = set(team_of(by).values_list("pk", flat=True).filter(pk__in=ids))
        if by.is_admin:
            allowed = ids
        outside = ids - allowed
        if outside:
            errors["people"] = "Assign courses to people in your team only."
        elif any(not p.is_active for p in people):
            errors["people"] = "One of these people's accounts is inactive."
    return errors


def completion_errors(
    *, assignment: Assignment, completed_on: datetime.date | None, today: datetime.date
) -> Errors:
    if assignment.completed_on is not None:
        return {"assignment": "This assignment is already complete."}
    if completed_on is None:
        return {"completed_on": "Give the day it was completed."}
    if completed_on > today:
        return {"completed_on": "The day is in the future."}
    if completed_on < assignment.assigned_on:
        return {"completed_on": "The day is before the course was assigned."}
    return {}


def mentorship_errors(
    *,
    by: User,
    mentor: User | None,
    mentee: User | None,
    started_on: datetime.date | None,
    today: datetime.date,
    goals: str,
) -> Errors:
    """A pairing: two different active people, the mentee in ``by``'s team, no other mentor at the time."""
    errors: Errors = {}
    if mentor is None:
        errors["mentor"] = "Choose the mentor."
    if mentee is None:
        errors["mentee"] = "Choose the mentee."
    if mentor is not None and mentee is not None:
        if mentor.pk == mentee.pk:
            errors["mentor"] = "A mentor cannot mentor themselves."
        elif not (mentor.is_active and mentee.is_active):
            errors["mentee" if not mentee.is_active else "mentor"] = (
                "This person's account is inactive."
            )
        else:
            acted = owners_acted_for(actor=by, owner_ids={mentor.pk, mentee.pk})
            if not (by.is_admin or by.is_manager) or mentee.pk not in acted or mentee.pk == by.pk:
                errors["mentee"] = "Pair people in your team only."
            elif mentor.pk not in acted:
                errors["mentor"] = "Choose a mentor in your team."
            elif Mentorship.objects.filter(mentee=mentee, ended_on__isnull=True).exists():
                errors["mentee"] = "This person already has a mentor."
    if started_on is None:
        errors["started_on"] = "Give the day the pairing starts."
    elif started_on > today + datetime.timedelta(days=366):
        errors["started_on"] = "Give a start within a year."
    if len(goals) > NOTES_MAX:
        errors["goals"] = f"Keep it to {NOTES_MAX} characters."
    return errors


def mentor_meeting_errors(
    *, mentorship: Mentorship, held_on: datetime.date | None, notes: str, today: datetime.date
) -> Errors:
    errors: Errors = {}
    if held_on is None:
        errors["held_on"] = "Give the day of the meeting."
    elif held_on > today:
        errors["held_on"] = "Record a meeting once it has happened."
    elif held_on < mentorship.started_on:
        errors["held_on"] = "The day is before the pairing started."
    elif mentorship.ended_on is not None and held_on > mentorship.ended_on:
        errors["held_on"] = "The day is after the pairing ended."
    if len(notes) > NOTES_MAX:
        errors["notes"] = f"Keep it to {NOTES_MAX} characters."
    return errors


def _raise(errors: Errors) -> None:
    if errors:
        raise ValidationError(errors)


def _today() -> datetime.date:
    return timezone.localdate()


# --- The catalogue --------------------------------------------------------------------


@transaction.atomic
def course_create(
    *,
    by: User,
    title: str,
    kind: str = CourseKind.COURSE,
    description: str = "",
    valid_for_days: int | None = None,
    required: bool = False,
    active: bool = True,
) -> Course:
    """Add a course or certification to the catalogue (admins)."""
    if not by.is_admin:
        raise PermissionDenied(ADMINS_ONLY)
    _raise(course_errors(title=title, kind=kind, valid_for_days=valid_for_days))
    return Course.objects.create(
        title=title.strip(),
        kind=kind,
        description=description,
        valid_for_days=valid_for_days,
        required=required,
        active=active,
    )


COURSE_FIELDS = ("title", "kind", "description", "valid_for_days", "required", "active")


@transaction.atomic
def course_update(*, course: Course, by: User, **changes) -> Course:
    """Change a catalogue entry (admins); a new validity applies to completions from now on."""
    if not by.is_admin:
        raise PermissionDenied(ADMINS_ONLY)
    values = {name: changes.get(name, getattr(course, name)) for name in COURSE_FIELDS}
    _raise(
        course_errors(
            title=values["title"],
            kind=values["kind"],
            valid_for_days=values["valid_for_days"],
            exclude_pk=course.pk,
        )
    )
    values["title"] = values["title"].strip()
    Course.objects.filter(pk=course.pk).update(**values)
    course.refresh_from_db()
    return course


# --- Assignments ----------------------------------------------------------------------


def _holds(course: Course, today: datetime.date):
    """People who hold ``course`` now: an open assignment, or a completion still valid."""
    return Assignment.objects.filter(course=course).filter(
        Q(completed_on__isnull=True)
        | Q(completed_on__isnull=False, expires_on__isnull=True)
        | Q(expires_on__gt=today)
    )


@transaction.atomic
def courses_assign(
    *,
    by: User,
    course: Course | None,
    due_on: datetime.date | None,
    people: list[User] | None = None,
    team: bool = False,
    today: datetime.date | None = None,
) -> list[Assignment]:
    """Assign ``course`` to ``people`` (or to ``by``'s whole team) by ``due_on``; returns the new assignments.

    Idempotent: someone who already has the course open, or holds a
    completion still valid, is skipped, so assigning twice changes nothing.
    """
    today = today or _today()
    chosen = list(people or [])
    if team:
        chosen = list(team_of(by).filter(is_active=True).order_by("pk"))
        if not chosen:
            raise ValidationError({"team": "You have no team; name the people instead."})
    _raise(assign_errors(by=by, course=course, people=chosen, due_on=due_on, today=today))
    held = set(
        _holds(course, today)
        .filter(person_id__in=[p.pk for p in chosen])
        .values_list("person_id", flat=True)
    )
    new = [
        Assignment(course=course, person=p, assigned_by=by, assigned_on=today, due_on=due_on)
        for p in {p.pk: p for p in chosen}.values()
        if p.pk not in held
    ]
    return Assignment.objects.bulk_create(new)


def _expiry(course: Course, completed_on: datetime.date) -> datetime.date | None:
    if course.valid_for_days is None:
        return None
    return completed_on + datetime.timedelta(days=course.valid_for_days)


@transaction.atomic
def assignment_complete(
    *,
    assignment: Assignment,
    by: User,
    completed_on: datetime.date | None = None,
    today: datetime.date | None = None,
) -> Assignment:
    """Mark an assignment completed (its person, their managers or an admin); a certification's expiry follows."""
    today = today or _today()
    if not may_act_for(actor=by, owner_id=assignment.person_id):
        raise PermissionDenied("Only the person, their managers and admins complete it.")
    locked = Assignment.objects.select_for_update().select_related("course").get(pk=assignment.pk)
    completed_on = completed_on or today
    _raise(completion_errors(assignment=locked, completed_on=completed_on, today=today))
    locked.completed_on = completed_on
    locked.expires_on = _expiry(locked.course, completed_on)
    Assignment.objects.filter(pk=locked.pk).update(
        completed_on=locked.completed_on, expires_on=locked.expires_on
    )
    return locked


@transaction.atomic
def assignment_renew(
    *,
    assignment: Assignment,
    by: User,
    due_on: datetime.date | None,
    today: datetime.date | None = None,
) -> Assignment:
    """Open a new assignment of a completed course for the same person (managers); the old one stays as history."""
    today = today or _today()
    if not assignments_managed_by(by).filter(pk=assignment.pk).exists():
        raise PermissionDenied(NOT_YOUR_TEAM)
    errors: Errors = {}
    if assignment.completed_on is None:
        errors["assignment"] = "Complete it before renewing it."
    elif Assignment.objects.filter(
        course_id=assignment.course_id, person_id=assignment.person_id, completed_on__isnull=True
    ).exists():
        errors["assignment"] = "A renewal is already open."
    if due_on is None:
        errors["due_on"] = "Give the day it is due."
    elif due_on < today:
        errors["due_on"] = "The due day is in the past."
    elif due_on > today + DUE_WITHIN:
        errors["due_on"] = "Give a due day within two years."
    _raise(errors)
    return Assignment.objects.create(
        course_id=assignment.course_id,
        person_id=assignment.person_id,
        assigned_by=by,
        assigned_on=today,
        due_on=due_on,
    )


# --- Mentorships ----------------------------------------------------------------------


@transaction.atomic
def mentorship_create(
    *,
    by: User,
    mentor: User | None,
    mentee: User | None,
    started_on: datetime.date | None = None,
    goals: str = "",
    today: datetime.date | None = None,
) -> Mentorship:
    """Pair a senior rep with a newer one (managers of the mentee, admins); one mentor at a time."""
    today = today or _today()
    started_on = started_on or today
    _raise(
        mentorship_errors(
            by=by, mentor=mentor, mentee=mentee, started_on=started_on, today=today, goals=goals
        )
    )
    return Mentorship.objects.create(
        mentor=mentor, mentee=mentee, started_on=started_on, goals=goals, created_by=by
    )


@transaction.atomic
def mentorship_end(
    *,
    mentorship: Mentorship,
    by: User,
    ended_on: datetime.date | None = None,
    today: datetime.date | None = None,
) -> Mentorship:
    """End a pairing (the mentee's managers, admins)."""
    today = today or _today()
    if not mentorships_managed_by(by).filter(pk=mentorship.pk).exists():
        raise PermissionDenied(NOT_YOUR_TEAM)
    ended_on = ended_on or today
    if mentorship.ended_on is not None:
        raise ValidationError({"mentorship": "This pairing has already ended."})
    if ended_on < mentorship.started_on:
        raise ValidationError({"ended_on": "The day is before the pairing started."})
    if ended_on > today:
        raise ValidationError({"ended_on": "The day is in the future."})
    Mentorship.objects.filter(pk=mentorship.pk).update(ended_on=ended_on)
    mentorship.ended_on = ended_on
    return mentorship


@transaction.atomic
def mentor_meeting_record(
    *,
    mentorship: Mentorship,
    by: User,
    held_on: datetime.date | None,
    notes: str = "",
    today: datetime.date | None = None,
) -> MentorMeeting:
    """Record a meeting of a pairing (the mentor, the mentee, the mentee's managers, admins)."""
    today = today or _today()
    in_pair = by.pk in (mentorship.mentor_id, mentorship.mentee_id)
    if not in_pair and not mentorships_managed_by(by).filter(pk=mentorship.pk).exists():
        if not mentorships_visible_to(by).filter(pk=mentorship.pk).exists():
            raise PermissionDenied(NOT_YOUR_TEAM)
        raise PermissionDenied("Only the pair, the mentee's managers and admins record meetings.")
    _raise(mentor_meeting_errors(mentorship=mentorship, held_on=held_on, notes=notes, today=today))
    return MentorMeeting.objects.create(
        mentorship=mentorship, held_on=held_on, notes=notes, recorded_by=by
    )


# --- Onboarding -----------------------------------------------------------------------


@transaction.atomic
def onboarding_start(
    *,
    by: User,
    person: User | None,
    started_on: datetime.date | None = None,
    today: datetime.date | None = None,
) -> Onboarding:
    """Give a new rep the checklist, each step due its days after ``started_on`` (their managers, admins)."""
    today = today or _today()
    started_on = started_on or today
    errors: Errors = {}
    if person is None:
        errors["person"] = "Choose the new rep."
    elif person.pk == by.pk or not may_act_for(actor=by, owner_id=person.pk):
        errors["person"] = "Start onboarding for people in your team only."
    elif Onboarding.objects.filter(person=person).exists():
        errors["person"] = "This person's onboarding has already started."
    if abs((started_on - today).days) > 366:
        errors["started_on"] = "Give a start within a year of today."
    steps = list(onboarding_steps())
    if not steps and not errors:
        errors["person"] = "The checklist has no steps yet; an admin adds them first."
    _raise(errors)
    onboarding = Onboarding.objects.create(person=person, started_on=started_on, started_by=by)
    OnboardingProgress.objects.bulk_create(
        OnboardingProgress(
            onboarding=onboarding,
            step=step,
            due_on=started_on + datetime.timedelta(days=step.due_after_days),
        )
        for step in steps
    )
    return onboarding


@transaction.atomic
def onboarding_step_tick(
    *,
    progress: OnboardingProgress,
    by: User,
    done: bool = True,
    today: datetime.date | None = None,
) -> OnboardingProgress:
    """Tick (or untick) one step of a checklist: the rep themselves, their managers, admins."""
    today = today or _today()
    onboarding = onboardings_visible_to(by).filter(pk=progress.onboarding_id).first()
    if onboarding is None or not may_act_for(actor=by, owner_id=onboarding.person_id):
        raise PermissionDenied("Only the rep, their managers and admins tick its steps.")
    if done and progress.done_on is not None:
        return progress  # ticking twice keeps the first day and who ticked it
    progress.done_on = today if done else None
    progress.checked_by = by if done else None
    OnboardingProgress.objects.filter(pk=progress.pk).update(
        done_on=progress.done_on, checked_by=progress.checked_by
    )
    return progress


def onboarding_step_errors(
    *, title: str | None, position: int | None, due_after_days: int | None, exclude_pk=None
) -> Errors:
    errors: Errors = {}
    if not title or not title.strip():
        errors["title"] = "Say what the step is."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep it to {TITLE_MAX} characters."
    if position is None or not 1 <= position <= 1000:
        errors["position"] = "Give a position from 1 to 1000."
    elif OnboardingStep.objects.filter(position=position).exclude(pk=exclude_pk).exists():
        errors["position"] = "Another step has this position."
    if due_after_days is None or not 0 <= due_after_days <= 365:
        errors["due_after_days"] = "Give from 0 to 365 days."
    return errors


@transaction.atomic
def onboarding_step_create(
    *, by: User, title: str, position: int, due_after_days: int = 14, active: bool = True
) -> OnboardingStep:
    """Add a step to the checklist (admins); checklists already started keep their steps."""
    if not by.is_admin:
        raise PermissionDenied("Only admins edit the onboarding checklist.")
    _raise(onboarding_step_errors(title=title, position=position, due_after_days=due_after_days))
    return OnboardingStep.objects.create(
        title=title.strip(), position=position, due_after_days=due_after_days, active=active
    )


@transaction.atomic
def onboarding_step_update(*, step: OnboardingStep, by: User, **changes) -> OnboardingStep:
    """Change a step of the checklist (admins): its title, position, due days, or retire it (active)."""
    if not by.is_admin:
        raise PermissionDenied("Only admins edit the onboarding checklist.")
    fields = ("title", "position", "due_after_days", "active")
    values = {name: changes.get(name, getattr(step, name)) for name in fields}
    _raise(
        onboarding_step_errors(
            title=values["title"],
            position=values["position"],
            due_after_days=values["due_after_days"],
            exclude_pk=step.pk,
        )
    )
    values["title"] = values["title"].strip()
    OnboardingStep.objects.filter(pk=step.pk).update(**values)
    step.refresh_from_db()
    return step
