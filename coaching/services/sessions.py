"""Writes of the coaching sessions: plan one, edit its GROW notes, record it, add its commitments.

Each service checks who may act and the rules (``session_errors``, a pure
check the forms and the API share) before it writes; a refusal writes nothing.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coaching.checks import text_errors
from coaching.models import ActionItem, CoachingSession, SessionFocus, SessionStatus
from coaching.sessions import session_evidence, sessions_managed_by
from coaching.skills import Skill
from pipeline.models import Deal, Stage, StageKind
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import ancestor_ids

NOT_YOURS = "Only the rep's managers and admins run this coaching session."
GROW_MAX = 10_000
GROW_FIELDS = ("goal", "reality", "options", "will")
# How far ahead a session may be planned, and how far back one may be recorded.
HORIZON = datetime.timedelta(days=366)
FOCUS_FIELDS = ("focus", "skill", "stage", "deal")

Errors = dict[str, str]


def session_errors(
    *,
    by: User,
    manager: User | None,
    rep: User | None,
    focus: str,
    skill: str = "",
    stage: Stage | None = None,
    deal: Deal | None = None,
    scheduled_on: datetime.date | None,
    follow_up_on: datetime.date | None = None,
    texts: dict[str, str] | None = None,
    today: datetime.date,
    check_day: bool = True,
) -> Errors:
    """Whether ``by`` may hold this session: what is wrong, field by field (writes nothing).

    The manager is above the rep in the reporting line; a manager runs their
    own sessions with their team, an admin anyone's. The focus is exactly one
    of a skill, an open stage, or one of the rep's live deals.
    """
    errors: Errors = {}
    if rep is None:
        errors["rep"] = "Choose the rep."
    elif not rep.is_active:
        errors["rep"] = "This person's account is inactive."
    if manager is None:
        errors["manager"] = "Choose the manager."
    if rep is not None and manager is not None and "rep" not in errors:
        if rep.pk == manager.pk:
            errors["rep"] = "A coaching session needs two people."
        elif manager.pk not in ancestor_ids(rep.pk):
            errors["rep"] = (
                "This person is not in your team."
                if manager.pk == by.pk
                else ("This person is not in the manager's team.")
            )
        elif not by.is_admin and manager.pk != by.pk:
            errors["manager"] = "You run your own coaching sessions only."
    if focus not in SessionFocus.values:
        errors["focus"] = "Choose a skill, a stage or a deal."
    elif focus == SessionFocus.SKILL:
        if skill not in Skill.values:
            errors["skill"] = "Choose the skill to coach."
    elif focus == SessionFocus.STAGE:
        if stage is None:
            errors["stage"] = "Choose the stage to coach."
        elif stage.kind != StageKind.OPEN:
            errors["stage"] = "Coach an open stage: won and lost have no conversion."
    elif focus == SessionFocus.DEAL:
        if deal is None:
            errors["deal"] = "Choose the deal to coach."
        elif deal.deleted_at is not None:
            errors["deal"] = "This deal was deleted."
        elif rep is not None and deal.owner_id != rep.pk:
            errors["deal"] = "The deal belongs to someone else than the rep."
    if scheduled_on is None:
        errors["scheduled_on"] = "Give the day of the session."
    elif check_day and abs(scheduled_on - today) > HORIZON:
        errors["scheduled_on"] = "Give a day within a year of today."
    if follow_up_on is not None and scheduled_on is not None and follow_up_on < scheduled_on:
        errors["follow_up_on"] = "The follow-up comes on or after the session."
    for field, text in (texts or {}).items():
        if text is not None and len(text) > GROW_MAX:
            errors[field] = f"Keep it to {GROW_MAX:,} characters."
    return errors


def _focus_only(focus: str, skill: str, stage, deal) -> tuple[str, Stage | None, Deal | None]:
    """The focus's own field kept, the others cleared, so the row holds exactly one focus."""
    return (
        skill if focus == SessionFocus.SKILL else "",
        stage if focus == SessionFocus.STAGE else None,
        deal if focus == SessionFocus.DEAL else None,
    )


@transaction.atomic
def session_create(
    *,
    by: User,
    rep: User | None,
    focus: str,
    scheduled_on: datetime.date | None,
    skill: str = "",
    stage: Stage | None = None,
    deal: Deal | None = None,
    follow_up_on: datetime.date | None = None,
    goal: str = "",
    reality: str = "",
    options: str = "",
    will: str = "",
    manager: User | None = None,
) -> CoachingSession:
    """Plan a session between ``manager`` (default: ``by`` if a manager, else the rep's manager) and ``rep``.

    The insight figures behind the focus are kept as the session's evidence.
    """
    if manager is None:
        manager = by if by.is_manager else (rep.manager if rep is not None else None)
    today = timezone.localdate()
    texts = {"goal": goal, "reality": reality, "options": options, "will": will}
    errors = session_errors(
        by=by,
        manager=manager,
        rep=rep,
        focus=focus,
        skill=skill,
        stage=stage,
        deal=deal,
        scheduled_on=scheduled_on,
        follow_up_on=follow_up_on,
        texts=texts,
        today=today,
    )
    if errors:
        raise ValidationError(errors)
    skill, stage, deal = _focus_only(focus, skill, stage, deal)
    evidence = session_evidence(
        rep=rep, focus=focus, skill=skill, stage=stage, deal=deal, today=today
    )
    return CoachingSession.objects.create(
        manager=manager,
        rep=rep,
        focus=focus,
        skill=skill,
        stage=stage,
        deal=deal,
        scheduled_on=scheduled_on,
        follow_up_on=follow_up_on,
        evidence=evidence,
        created_by=by,
        **{field: text.strip() for field, text in texts.items()},
    )


def _require_runs(by: User, session: CoachingSession) -> CoachingSession:
    """The session locked for the write, if ``by`` runs it."""
    locked = sessions_managed_by(by).select_for_update().filter(pk=session.pk).first()
    if locked is None:
        raise PermissionDenied(NOT_YOURS)
    return locked


@transaction.atomic
def session_update(*, session: CoachingSession, by: User, **changes) -> CoachingSession:
    """Change a session's day, follow-up, focus or GROW notes (only the fields given).

    A new focus takes new evidence, as of today.
    """
    unknown = set(changes) - {*GROW_FIELDS, *FOCUS_FIELDS, "scheduled_on", "follow_up_on"}
    if unknown:
        raise ValidationError({field: "This field cannot be changed." for field in unknown})
    current = _require_runs(by, session)
    values = {
        field: getattr(current, field)
        for field in (*GROW_FIELDS, *FOCUS_FIELDS, "scheduled_on", "follow_up_on")
    }
    values |= changes
    values["skill"] = values["skill"] or ""
    today = timezone.localdate()
    errors = session_errors(
        by=by if by.is_admin else current.manager,
        manager=current.manager,
        rep=current.rep,
        focus=values["focus"],
        skill=values["skill"],
        stage=values["stage"],
        deal=values["deal"],
        scheduled_on=values["scheduled_on"],
        follow_up_on=values["follow_up_on"],
        texts={field: changes[field] for field in GROW_FIELDS if field in changes},
        today=today,
        # A session of long ago keeps its notes editable: only a new day must lie within reach.
        check_day="scheduled_on" in changes,
    )
    if errors:
        raise ValidationError(errors)
    skill, stage, deal = _focus_only(
        values["focus"], values["skill"], values["stage"], values["deal"]
    )
    refocused = (values["focus"], skill, getattr(stage, "pk", None), getattr(deal, "pk", None)) != (
        current.focus,
        current.skill,
        current.stage_id,
        current.deal_id,
    )
    for field in GROW_FIELDS:
        if field in changes:
            setattr(current, field, (changes[field] or "").strip())
    current.focus, current.skill, current.stage, current.deal = values["focus"], skill, stage, deal
    current.scheduled_on, current.follow_up_on = values["scheduled_on"], values["follow_up_on"]
    if refocused:
        current.evidence = session_evidence(
            rep=current.rep, focus=current.focus, skill=skill, stage=stage, deal=deal, today=today
        )
    current.updated_at = timezone.now()
    current.save()
    return current


@transaction.atomic
def session_record(*, session: CoachingSession, by: User, status: str) -> CoachingSession:
    """Record a session as held or cancelled (or put it back to planned)."""
    current = _require_runs(by, session)
    if status not in SessionStatus.values:
        raise ValidationError({"status": "Choose planned, held or cancelled."})
    if status == SessionStatus.HELD and current.scheduled_on > timezone.localdate():
        raise ValidationError({"status": "A session ahead of today cannot be held yet."})
    CoachingSession.objects.filter(pk=current.pk).update(status=status, updated_at=timezone.now())
    current.refresh_from_db()
    return current


@transaction.atomic
def session_commitment_add(
    *,
    session: CoachingSession,
    by: User,
    owner: User | None,
    text: str,
    due_on: datetime.date | None,
) -> ActionItem:
    """A commitment of the session's Will: an action item owned by the rep or the manager.

    It shows on its owner's home page until done, like a one-on-one's items.
    """
    current = _require_runs(by, session)
    errors = text_errors(text)
    if owner is None:
        errors["owner"] = "Choose who owns it."
    elif owner.pk not in (current.rep_id, current.manager_id):
        errors["owner"] = "The owner is the rep or the manager of this session."
    if due_on is None:
        errors["due_on"] = "Give a due date."
    elif due_on < current.scheduled_on:
        errors["due_on"] = "The due date is before the session."
    if errors:
        raise ValidationError(errors)
    return ActionItem.objects.create(
        coaching_session=current, owner=owner, text=text.strip(), due_on=due_on, created_by=by
    )


def demo_sessions_create(*, plans: list, today: datetime.date) -> int:
    """Store the demo's planned sessions (``coaching.demo_sessions``) with their commitments, each
    with the evidence as of its own day; returns how many sessions.

    Only ``seed_coaching`` calls it, on a database whose people came from
    ``seed_demo``: the plans were drawn within the rules ``session_create`` enforces.
    """
    stages = Stage.objects.in_bulk({plan.stage_id for plan in plans if plan.stage_id})
    deals = Deal.objects.select_related("stage").in_bulk(
        {plan.deal_id for plan in plans if plan.deal_id}
    )
    reps = User.objects.in_bulk({plan.rep_id for plan in plans})
    with transaction.atomic():
        sessions = CoachingSession.objects.bulk_create(
            CoachingSession(
                manager_id=plan.manager_id,
                rep_id=plan.rep_id,
                scheduled_on=plan.scheduled_on,
                status=plan.status,
                focus=plan.focus,
                skill=plan.skill,
                stage_id=plan.stage_id,
                deal_id=plan.deal_id,
                goal=plan.goal,
                reality=plan.reality,
                options=plan.options,
                will=plan.will,
                follow_up_on=plan.follow_up_on,
                evidence=session_evidence(
                    rep=reps[plan.rep_id],
                    focus=plan.focus,
                    skill=plan.skill,
                    stage=stages.get(plan.stage_id),
                    deal=deals.get(plan.deal_id),
                    today=min(plan.scheduled_on, today),
                ),
                created_by_id=plan.manager_id,
                created_at=_moment(plan.scheduled_on - datetime.timedelta(days=7)),
                updated_at=_moment(min(plan.scheduled_on, today)),
            )
            for plan in plans
        )
        ActionItem.objects.bulk_create(
            ActionItem(
                coaching_session=session,
                owner_id=item.owner_id,
                text=item.text,
                due_on=item.due_on,
                status="done" if item.completed_on else "open",
                created_by_id=plan.manager_id,
                created_at=_moment(plan.scheduled_on),
                completed_at=_moment(item.completed_on) if item.completed_on else None,
                completed_by_id=item.owner_id if item.completed_on else None,
            )
            for session, plan in zip(sessions, plans, strict=True)
            for item in plan.commitments
        )
    return len(sessions)


def _moment(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
