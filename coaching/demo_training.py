"""A believable year of training for the demo organisation, written through the training services.

A catalogue of six courses (two of them certifications) and a six-step
onboarding checklist; each manager assigns the required courses to their
direct reports early in the year, and most complete them within the month, a
few late. The data-protection certification was taken a year ago, so one rep
who took it early is due to renew within the month. A negotiation course
assigned in the spring has two reps overdue; a demo course assigned three
weeks ago is still open. Two mentor pairings meet monthly (one ended in the
autumn); the newest rep is half-way through onboarding. Deterministic: a
seeded generator draws every day.
"""

import datetime
import random

from coaching.models import Assignment, Course
from coaching.services.training import (
    assignment_complete,
    course_create,
    courses_assign,
    mentor_meeting_record,
    mentorship_create,
    mentorship_end,
    onboarding_start,
    onboarding_step_create,
    onboarding_step_tick,
)
from coaching.training import onboarding_steps
from salesmgr.models import Role, User

CATALOGUE = [
    # title, kind, valid for days, required, description
    ("Product fundamentals", "course", None, True, "What we sell, to whom, and why they buy."),
    ("Discovery and qualification", "course", None, True, "Questions that find the real need."),
    ("Data protection for sales", "certification", 365, True, "Handling customer data lawfully."),
    ("Solution selling certification", "certification", 730, False, "The vendor's exam."),
    ("Negotiation skills", "course", None, False, "Trading concessions, holding price."),
    ("Demo excellence", "course", None, False, "Short, tailored product demos."),
]
STEPS = [
    ("Set up the CRM, email and calendar", 2),
    ("Read the sales playbook", 5),
    ("Shadow three discovery calls", 14),
    ("Complete Product fundamentals", 21),
    ("Run a practice demo with your mentor", 30),
    ("Own your first ten accounts", 45),
]
MEETING_NOTES = [
    "Went through last week's calls; work on open questions early.",
    "Role-played a pricing objection. Better at holding the line.",
    "Reviewed the pipeline together; two deals to requalify.",
    "Talked about time management: block prospecting mornings.",
    "Prepared the demo for next week; cut the intro to two minutes.",
]


def _d(today: datetime.date, days: int) -> datetime.date:
    return today + datetime.timedelta(days=days)


def _complete(assignment: Assignment, on: datetime.date) -> None:
    assignment_complete(assignment=assignment, by=assignment.person, completed_on=on, today=on)


def seed_training(*, today: datetime.date, seed: int = 42) -> str:
    """Write the year of training ending ``today``; returns a one-line summary.

    Skipped when anyone has an assignment; a catalogue and checklist left by an
    earlier run (``seed_demo --reset`` removes the people, not the catalogue) are reused.
    """
    if Assignment.objects.exists():
        return "Training already present."
    rng = random.Random(seed)
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    managers = list(
        User.objects.filter(role=Role.MANAGER, reports__isnull=False).distinct().order_by("pk")
    )
    if admin is None or not managers:
        return "Training: no people to train."
    courses = {c.title: c for c in Course.objects.filter(title__in=[c[0] for c in CATALOGUE])}
    for title, kind, days, required, text in CATALOGUE:
        if title not in courses:
            courses[title] = course_create(
                by=admin,
                title=title,
                kind=kind,
                valid_for_days=days,
                required=required,
                description=text,
            )
    if not onboarding_steps().exists():
        for n, (title, days) in enumerate(STEPS, start=1):
            onboarding_step_create(by=admin, title=title, position=n, due_after_days=days)
    first_rep = (
        managers[0]
        .reports.filter(role=Role.REP, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    for manager in managers:
        team = list(manager.reports.filter(is_active=True).order_by("pk"))
        for title, start in [
            ("Product fundamentals", -330),
            ("Discovery and qualification", -300),
        ]:
            for a in courses_assign(
                by=manager,
                course=courses[title],
                people=team,
                due_on=_d(today, start + 30),
                today=_d(today, start),
            ):
                late = rng.random() < 0.15
                _complete(
                    a,
                    _d(today, start + rng.randint(31, 50) if late else start + rng.randint(3, 29)),
                )
        # The certification: taken a year ago, so its renewals come due over the next months.
        cert = courses_assign(
            by=manager,
            course=courses["Data protection for sales"],
            people=team,
            due_on=_d(today, -300),
            today=_d(today, -345),
        )
        for a in cert:
            # The first manager's first rep took it early: it expires within the month.
            early = manager == managers[0] and a.person_id == first_rep
            _complete(a, _d(today, -345 if early else rng.randint(-300, -270)))
        solution = [p for p in team if rng.random() < 0.5]
        for a in (
            courses_assign(
                by=manager,
                course=courses["Solution selling certification"],
                people=solution,
                due_on=_d(today, -150),
                today=_d(today, -210),
            )
            if solution
            else []
        ):
            _complete(a, _d(today, rng.randint(-200, -150)))
        negotiation = courses_assign(
            by=manager,
            course=courses["Negotiation skills"],
            people=team,
            due_on=_d(today, -60),
            today=_d(today, -120),
        )
        for a in negotiation:
            if rng.random() < 0.8:
                _complete(a, _d(today, rng.randint(-110, -55)))
        courses_assign(
            by=manager,
            course=courses["Demo excellence"],
            people=team,
            due_on=_d(today, 20),
            today=_d(today, -20),
        )
    pairings = _mentoring(managers, today, rng)
    onboarded = _onboarding(managers[0], today)
    return (
        f"Training: {len(courses)} courses, {Assignment.objects.count()} assignments, "
        f"{pairings} mentor pairings, {onboarded} rep onboarding."
    )


def _monthly(pairing, by, start: datetime.date, end: datetime.date, rng) -> None:
    day = start + datetime.timedelta(days=7)
    while day <= end:
        mentor_meeting_record(
            mentorship=pairing, by=by, held_on=day, notes=rng.choice(MEETING_NOTES), today=day
        )
        day += datetime.timedelta(days=rng.randint(26, 35))


def _mentoring(managers: list[User], today: datetime.date, rng) -> int:
    made = 0
    for n, manager in enumerate(managers[:2]):
        reps = list(manager.reports.filter(role=Role.REP, is_active=True).order_by("pk"))
        if len(reps) < 2:
            continue
        mentor, mentee = reps[0], reps[-1]
        start = _d(today, -150 if n == 0 else -300)
        pairing = mentorship_create(
            by=manager,
            mentor=mentor,
            mentee=mentee,
            started_on=start,
            today=start,
            goals="Run discovery calls alone; build a pipeline of three times quota.",
        )
        end = today if n == 0 else _d(today, -60)
        _monthly(pairing, mentor, start, end, rng)
        if n == 1:
            mentorship_end(mentorship=pairing, by=manager, ended_on=end, today=end)
        made += 1
    return made


def _onboarding(manager: User, today: datetime.date) -> int:
    newest = manager.reports.filter(role=Role.REP, is_active=True).order_by("-pk").first()
    if newest is None:
        return 0
    start = _d(today, -20)
    onboarding = onboarding_start(by=manager, person=newest, started_on=start, today=start)
    progress = list(onboarding.progress.select_related("step").order_by("step__position"))
    for p in progress[:3]:
        on = min(p.due_on - datetime.timedelta(days=1), today)
        onboarding_step_tick(progress=p, by=newest, today=on)
    return 1
