"""Writes of hiring: positions, applicants and their moves, interview notes, scorecards, and the hire.

Only a position's manager (the hiring manager) and admins write anything about it; a refusal names
the field and writes nothing. Hiring an applicant (``applicant_hire``) is one transaction: the new
rep, their place in the team and territory, their onboarding checklist and their ramped quotas.
"""

import calendar
import datetime
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coaching.hiring import applicants_visible_to, team_standard_quota
from coaching.hiring_capacity import month_starts, parse_ramp
from coaching.models import (
    OPEN_STAGES,
    Applicant,
    ApplicantStage,
    Competency,
    CompetencyRating,
    InterviewNote,
    Onboarding,
    OnboardingStep,
    Position,
    PositionStatus,
    Recommendation,
    RejectionReason,
    Scorecard,
)
from coaching.models.hiring import RATING_MAX, RATING_MIN
from coaching.services.training import onboarding_start
from quotas.models import Quota, QuotaPeriod, Territory
from quotas.services import quota_set, territory_update
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import Role, User
from salesmgr.services import user_create

NOT_YOURS = "Only the position's hiring manager and admins do this."
TITLE_MAX = 120
NOTE_MAX = 5000
# How many months of quota a hire gets: the ramp, then the full quota up to a year.
QUOTA_MONTHS = 12
# The checklist a hire gets when an admin has not written one yet (admins edit it on the training pages).
DEFAULT_CHECKLIST = (
    ("Laptop, accounts and CRM access", 1),
    ("Meet the team and your manager's one-on-one", 3),
    ("Product and pricing training", 14),
    ("Shadow five customer calls", 21),
    ("Territory plan agreed with your manager", 30),
)


def _refuse(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _today() -> datetime.date:
    return timezone.localdate()


def _may_run(by: User, position: Position) -> None:
    if not (by.is_admin or (by.is_manager and position.manager_id == by.pk)):
        raise PermissionDenied(NOT_YOURS)


# --- Positions -----------------------------------------------------------------------------


def _position_errors(values: dict, by: User) -> dict:
    errors = {}
    title = (values.get("title") or "").strip()
    if not title:
        errors["title"] = "Name the position, e.g. Account executive."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep it to {TITLE_MAX} characters."
    manager = values.get("manager")
    if manager is None:
        errors["manager"] = "Choose the hiring manager."
    elif manager.role != Role.MANAGER or not manager.is_active:
        errors["manager"] = "The hiring manager must be an active manager."
    elif not by.is_admin and manager.pk != by.pk:
        errors["manager"] = "Open positions in your own team only."
    if not isinstance(values.get("start_wanted"), datetime.date):
        errors["start_wanted"] = "Give the day the new rep should start."
    quota = values.get("monthly_quota")
    if quota is not None and (not isinstance(quota, Decimal) or quota < 0 or quota >= 10**12):
        errors["monthly_quota"] = "Give a monthly quota of 0 or more, or leave it empty."
    try:
        parse_ramp(values.get("ramp"))
    except ValueError as error:
        errors["ramp"] = str(error)
    if values.get("status") not in PositionStatus.values:
        errors["status"] = "Choose open, filled or cancelled."
    territory = values.get("territory")
    if territory is not None and not isinstance(territory, Territory):
        errors["territory"] = "Choose a territory."
    return errors


def position_errors(values: dict, by: User) -> dict:
    """What is wrong with a position's details (title, manager, start, quota, ramp, status, territory)."""
    return _position_errors(values, by)


def position_create(
    *,
    by: User,
    title: str,
    manager: User | None = None,
    start_wanted: datetime.date | None = None,
    territory: Territory | None = None,
    monthly_quota: Decimal | None = None,
    ramp: str = "25,50,75,100",
) -> Position:
    """Open a position in ``manager``'s team (a manager opens their own; admins anyone's)."""
    if not (by.is_admin or by.is_manager):
        raise PermissionDenied("Only managers and admins open positions.")
    manager = manager if manager is not None else (by if by.is_manager else None)
    values = {
        "title": title,
        "manager": manager,
        "start_wanted": start_wanted,
        "territory": territory,
        "monthly_quota": monthly_quota,
        "ramp": ramp,
        "status": PositionStatus.OPEN,
    }
    _refuse(_position_errors(values, by))
    values["title"] = title.strip()
    values["ramp"] = ",".join(str(v) for v in parse_ramp(ramp))
    return Position.objects.create(created_by=by, **values)


POSITION_UPDATABLE = ("title", "start_wanted", "territory", "monthly_quota", "ramp", "status")


@transaction.atomic
def position_update(*, position: Position, by: User, **changes) -> Position:
    """Change a position's details, or cancel or reopen it; a filled position stays filled."""
    unknown = set(changes) - set(POSITION_UPDATABLE)
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))}.")
    position = Position.objects.select_for_update().get(pk=position.pk)
    _may_run(by, position)
    values = {name: getattr(position, name) for name in POSITION_UPDATABLE}
    values["manager"] = position.manager
    values |= changes
    errors = _position_errors(values, by if not by.is_admin else by)
    if "status" in changes:
        if position.status == PositionStatus.FILLED and changes["status"] != PositionStatus.FILLED:
            errors["status"] = "This position is filled; open another one."
        elif (
            changes["status"] == PositionStatus.FILLED and position.status != PositionStatus.FILLED
        ):
            errors["status"] = "A position is filled by hiring one of its applicants."
    _refuse(errors)
    for name, value in changes.items():
        if name == "title":
            value = value.strip()
        if name == "ramp":
            value = ",".join(str(v) for v in parse_ramp(value))
        setattr(position, name, value)
    position.save()
    return position


@transaction.atomic
def positions_open_from_plan(
    *,
    by: User,
    manager: User,
    starts: list[datetime.date],
    title: str = "Account executive",
    territory: Territory | None = None,
    ramp: str = "25,50,75,100",
) -> list[Position]:
    """Open the capacity plan's gap: one position per start month given (all or none)."""
    if not starts:
        raise ValidationError({"starts": "The plan needs no new positions."})
    if len(starts) > 100:
        raise ValidationError({"starts": "Open at most 100 positions at once."})
    return [
        position_create(
            by=by, title=title, manager=manager, start_wanted=start, territory=territory, ramp=ramp
        )
        for start in starts
    ]


# --- Applicants ----------------------------------------------------------------------------


def applicant_add(
    *, by: User, position: Position, full_name: str, email: str = "", source: str = ""
) -> Applicant:
    """Add an applicant to an open position, in the Applied column."""
    _may_run(by, position)
    errors = {}
    if not (full_name or "").strip():
        errors["full_name"] = "Give the applicant's name."
    elif len(full_name) > 150:
        errors["full_name"] = "Keep it to 150 characters."
    if position.status != PositionStatus.OPEN:
        errors["position"] = "This position is not open."
    if len(source or "") > 80:
        errors["source"] = "Keep it to 80 characters."
    applicant = Applicant(
        position=position,
        full_name=(full_name or "").strip(),
        email=(email or "").strip(),
        source=(source or "").strip(),
    )
    if not errors:
        try:
            applicant.full_clean(exclude=["position", "hired_user"])
        except ValidationError as error:
            errors |= {name: " ".join(messages) for name, messages in error.message_dict.items()}
    _refuse(errors)
    applicant.save()
    return applicant


@dataclass
class HireResult:
    user: User
    temporary_password: str
    quotas: list[Quota] = field(default_factory=list)
    onboarding: Onboarding | None = None


@dataclass
class MoveResult:
    applicant: Applicant
    hire: HireResult | None = None


@transaction.atomic
def applicant_move(
    *,
    by: User,
    applicant: Applicant,
    stage: str,
    expected_version: int | None = None,
    rejection_reason: str = "",
    start_on: datetime.date | None = None,
) -> MoveResult:
    """Move an applicant to another stage. Rejected needs a reason; hired runs ``applicant_hire``.

    ``expected_version`` is the version the board showed: a stale one raises ``ConflictError``.
    Hired is final; a rejected applicant may come back to an open stage.
    """
    locked = Applicant.objects.select_for_update().select_related("position").get(pk=applicant.pk)
    _may_run(by, locked.position)
    if expected_version is not None and expected_version != locked.version:
        raise ConflictError(
            "This applicant was moved by someone else.", current_version=locked.version
        )
    errors = {}
    if stage not in ApplicantStage.values:
        errors["stage"] = f"Choose one of: {', '.join(ApplicantStage.values)}."
    elif locked.stage == ApplicantStage.HIRED:
        errors["stage"] = "This applicant is hired; the move is final."
    elif stage == ApplicantStage.REJECTED and rejection_reason not in RejectionReason.values:
        errors["rejection_reason"] = "Say why the applicant is rejected."
    _refuse(errors)
    if stage == ApplicantStage.HIRED:
        hire = applicant_hire(by=by, applicant=locked, start_on=start_on)
        locked.refresh_from_db()
        return MoveResult(applicant=locked, hire=hire)
    locked.stage = stage
    locked.rejection_reason = rejection_reason if stage == ApplicantStage.REJECTED else ""
    locked.version += 1
    locked.stage_changed_at = timezone.now()
    locked.save(update_fields=["stage", "rejection_reason", "version", "stage_changed_at"])
    return MoveResult(applicant=locked)


def _username_for(applicant: Applicant) -> str:
    """A free username from the applicant's e-mail (its local part) or name: ``jo.bloggs``, ``jo.bloggs2``..."""
    base = applicant.email.split("@")[0] if applicant.email else applicant.full_name
    base = re.sub(r"[^a-z0-9.]+", ".", base.lower()).strip(".")[:120] or "newrep"
    taken = set(User.objects.filter(username__istartswith=base).values_list("username", flat=True))
    taken = {name.lower() for name in taken}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _checklist_ready() -> None:
    """The onboarding checklist a hire needs: the admins' steps, or a default one when there is none."""
    if not OnboardingStep.objects.filter(active=True).exists():
        taken = set(OnboardingStep.objects.values_list("position", flat=True))
        free = (n for n in range(1, 1001) if n not in taken)
        OnboardingStep.objects.bulk_create(
            OnboardingStep(position=next(free), title=title, due_after_days=days)
            for title, days in DEFAULT_CHECKLIST
        )


def _last_day(first: datetime.date) -> datetime.date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def ramped_targets(full: Decimal, ramp: list[int], months: int = QUOTA_MONTHS) -> list[Decimal]:
    """A new rep's monthly targets: ``full × ramp[i]%`` in their first months, then ``full``."""
    shares = [*ramp, *([100] * max(months - len(ramp), 0))][:months]
    return [(full * share / 100).quantize(Decimal("0.01")) for share in shares]


@transaction.atomic
def applicant_hire(
    *, by: User, applicant: Applicant, start_on: datetime.date | None = None
) -> HireResult:
    """Hire ``applicant``: in one transaction, create the new rep (reporting to the hiring manager, in the
    position's territory) with a temporary password, start their onboarding checklist, give them the
    ramped monthly quotas (from their start month), and mark the position filled."""
    position = Position.objects.select_for_update().get(pk=applicant.position_id)
    _may_run(by, position)
    applicant = Applicant.objects.select_for_update().get(pk=applicant.pk)
    today = _today()
    start_on = start_on or max(position.start_wanted, today)
    errors = {}
    if applicant.stage == ApplicantStage.HIRED:
        errors["stage"] = "This applicant is already hired."
    elif applicant.stage not in OPEN_STAGES:
        errors["stage"] = "Bring a rejected applicant back before hiring them."
    if position.status != PositionStatus.OPEN:
        errors["position"] = "This position is no longer open."
    if abs((start_on - today).days) > 366:
        errors["start_on"] = "Give a start within a year of today."
    full = position.monthly_quota
    if full is None:
        full = team_standard_quota(position.manager, before=start_on)
    if full is None:
        errors["monthly_quota"] = (
            "The team has no monthly quotas to take a standard from: set the position's monthly quota."
        )
    _refuse(errors)
    password = secrets.token_urlsafe(12)
    user = user_create(
        username=_username_for(applicant),
        password=password,
        role=Role.REP,
        full_name=applicant.full_name,
        email=applicant.email,
        manager=position.manager,
    )
    if position.territory_id is not None:
        territory = Territory.objects.get(pk=position.territory_id)
        territory_update(territory=territory, by=by, reps=[*territory.reps.all(), user])
    _checklist_ready()
    onboarding = onboarding_start(by=by, person=user, started_on=start_on, today=today)
    quotas = []
    months = month_starts(start_on.replace(day=1), QUOTA_MONTHS)
    for first, target in zip(months, ramped_targets(full, position.ramp_percentages), strict=True):
        quotas.append(
            quota_set(
                owner=user,
                period_start=first,
                period_end=_last_day(first),
                target=target,
                period=QuotaPeriod.MONTH,
            )
        )
    position.status = PositionStatus.FILLED
    position.filled_by = user
    position.save(update_fields=["status", "filled_by"])
    applicant.stage = ApplicantStage.HIRED
    applicant.rejection_reason = ""
    applicant.hired_user = user
    applicant.version += 1
    applicant.stage_changed_at = timezone.now()
    applicant.save(
        update_fields=["stage", "rejection_reason", "hired_user", "version", "stage_changed_at"]
    )
    return HireResult(user=user, temporary_password=password, quotas=quotas, onboarding=onboarding)


# --- Interview notes and scorecards ----------------------------------------------------------


def interview_note_add(*, by: User, applicant: Applicant, text: str) -> InterviewNote:
    """Note something about an applicant (the hiring manager, admins); stamped with their current stage."""
    if not applicants_visible_to(by).filter(pk=applicant.pk).exists():
        raise PermissionDenied(NOT_YOURS)
    _may_run(by, applicant.position)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the note."})
    if len(text) > NOTE_MAX:
        raise ValidationError({"text": f"Keep it to {NOTE_MAX} characters."})
    return InterviewNote.objects.create(
        applicant=applicant, author=by, stage=applicant.stage, text=text
    )


def _ratings_errors(ratings) -> dict:
    if not isinstance(ratings, dict) or not ratings:
        return {"ratings": "Rate at least one competency from 1 to 5."}
    for competency, rating in ratings.items():
        if competency not in Competency.values:
            return {"ratings": f"Unknown competency {competency!r}."}
        if isinstance(rating, bool) or not isinstance(rating, int):
            return {"ratings": f"Rate {competency} with a whole number from 1 to 5."}
        if not RATING_MIN <= rating <= RATING_MAX:
            return {"ratings": f"Rate {competency} from {RATING_MIN} to {RATING_MAX}."}
    return {}


@transaction.atomic
def scorecard_record(
    *,
    by: User,
    applicant: Applicant,
    recommendation: str,
    ratings: dict[str, int],
    summary: str = "",
) -> Scorecard:
    """Record a scorecard: a 1-5 rating per competency and a recommendation (the hiring manager, admins)."""
    _may_run(by, applicant.position)
    errors = _ratings_errors(ratings)
    if recommendation not in Recommendation.values:
        errors["recommendation"] = f"Choose one of: {', '.join(Recommendation.values)}."
    if len(summary or "") > NOTE_MAX:
        errors["summary"] = f"Keep it to {NOTE_MAX} characters."
    _refuse(errors)
    scorecard = Scorecard.objects.create(
        applicant=applicant,
        interviewer=by,
        recommendation=recommendation,
        summary=(summary or "").strip(),
    )
    CompetencyRating.objects.bulk_create(
        CompetencyRating(scorecard=scorecard, competency=c, rating=r) for c, r in ratings.items()
    )
    return scorecard


def parse_money(text) -> Decimal | None:
    """A form's amount: None when empty; raises ValueError when it is not a number."""
    if text is None or str(text).strip() == "":
        return None
    try:
        value = Decimal(str(text).replace(",", "").strip())
    except InvalidOperation:
        raise ValueError("Give a number.") from None
    if not value.is_finite():
        raise ValueError("Give a number.")
    return value


__all__ = [
    "HireResult",
    "MoveResult",
    "applicant_add",
    "applicant_hire",
    "applicant_move",
    "interview_note_add",
    "position_create",
    "position_update",
    "positions_open_from_plan",
    "ramped_targets",
    "scorecard_record",
]
