"""The hiring pages: the hub, the capacity plan, positions, the applicant board and an applicant's page.

Thin: read through ``coaching.hiring``, write through ``coaching.services``. Hiring is for managers
and admins (a rep gets 403); a position or applicant outside the user's selector is a 404, so
another manager cannot even learn that it exists. Bad input answers 400 naming the field.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from coaching.charts_hiring import capacity_chart
from coaching.hiring import (
    BOARD_KIND,
    CARDS_PER_COLUMN,
    DEFAULT_ATTRITION,
    MORE_CARDS,
    applicant_for_page,
    applicant_notes,
    applicant_scorecards,
    applicants_listed,
    applicants_visible_to,
    board_columns,
    capacity_defaults,
    capacity_inputs,
    column_cards,
    competency_averages,
    hiring_managers_for,
    may_hire,
    positions_listed,
    positions_visible_to,
    territories_for_positions,
)
from coaching.hiring_capacity import capacity_plan, parse_ramp
from coaching.models import (
    OPEN_STAGES,
    ApplicantStage,
    Competency,
    PositionStatus,
    Recommendation,
    RejectionReason,
)
from coaching.models.hiring import DEFAULT_RAMP
from coaching.services import (
    applicant_add,
    applicant_move,
    interview_note_add,
    position_create,
    position_update,
    positions_open_from_plan,
    scorecard_record,
)
from coaching.services.hiring import parse_money
from pipeline.views.common import wants_json
from quotas.selectors import quotas_visible_to
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.values import parse_int

PASSWORD_KEY = "hiring_password_{}"
STAGE_LABELS = dict(ApplicantStage.choices)


def _managers_only(request: HttpRequest) -> None:
    if not may_hire(request.user):
        raise Forbidden("Hiring is for managers and admins.")


def _date(raw, name: str, errors: dict) -> datetime.date | None:
    if not raw:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        errors[name] = "Give a date as YYYY-MM-DD."
        return None


def _messages(error: ValidationError) -> dict[str, str]:
    if hasattr(error, "message_dict"):
        return {name: " ".join(texts) for name, texts in error.message_dict.items()}
    return {"__all__": " ".join(error.messages)}


def _first(errors: dict[str, str]) -> str:
    name, text = next(iter(errors.items()))
    return text if name == "__all__" else f"{name}: {text}"


# --- The hub ---------------------------------------------------------------------------------


@login_required
@require_safe
def hiring_hub(request: HttpRequest) -> HttpResponse:
    """Open positions, applicants in the running by stage, and the latest hires with their onboarding."""
    _managers_only(request)
    positions = positions_visible_to(request.user)
    applicants = applicants_visible_to(request.user)
    columns = board_columns(applicants.filter(stage__in=OPEN_STAGES), limit=0)
    hires = list(
        applicants_listed(applicants.filter(stage=ApplicantStage.HIRED)).order_by(
            "-stage_changed_at"
        )[:10]
    )
    return render(
        request,
        "coaching/hiring_hub.html",
        {
            "open_positions": list(
                positions_listed(positions.filter(status=PositionStatus.OPEN))[:20]
            ),
            "stage_counts": [c for c in columns if c.stage in OPEN_STAGES],
            "hires": hires,
        },
    )


# --- The capacity plan ------------------------------------------------------------------------


def _capacity_form(request: HttpRequest, data) -> tuple[dict, dict]:
    """The plan's form values and the errors by field."""
    errors: dict[str, str] = {}
    managers = list(hiring_managers_for(request.user).order_by("full_name", "username"))
    manager_id = parse_int(
        data.get("manager") or (request.user.pk if request.user.is_manager else None)
    )
    manager = next((m for m in managers if m.pk == manager_id), None)
    if manager is None and data.get("manager"):
        errors["manager"] = "Choose a manager of your own (or, for admins, any manager)."
    if manager is None and managers and "manager" not in errors:
        manager = managers[0]
    today = timezone.localdate()
    year = parse_int(data.get("year") or today.year + 1)
    if year is None or not today.year - 1 <= year <= today.year + 5:
        errors["year"] = f"Give a year from {today.year - 1} to {today.year + 5}."
        year = today.year + 1
    values = {"manager": manager, "managers": managers, "year": year}
    for name, scale in (
        ("annual_target", 1),
        ("attainment", 100),
        ("monthly_quota", 1),
        ("attrition", 100),
    ):
        raw = data.get(name, "")
        values[f"{name}_raw"] = raw
        try:
            number = parse_money(raw)
        except ValueError:
            errors[name] = "Give a number."
            number = None
        if number is not None and (number < 0 or number >= 10**12):
            errors[name] = "Give a number of 0 or more."
            number = None
        if number is not None and scale == 100 and number > 100 and name == "attrition":
            errors[name] = "Give a percentage from 0 to 100."
            number = None
        if number is not None and name == "attainment" and not 0 < number <= 300:
            errors[name] = "Give a percentage above 0 and up to 300."
            number = None
        values[name] = None if number is None else number / scale
    values["ramp_raw"] = data.get("ramp", DEFAULT_RAMP)
    try:
        values["ramp"] = parse_ramp(values["ramp_raw"])
    except ValueError as error:
        errors["ramp"] = str(error)
        values["ramp"] = parse_ramp(DEFAULT_RAMP)
    if values["attrition"] is None:
        values["attrition"] = DEFAULT_ATTRITION
        if not values["attrition_raw"]:
            values["attrition_raw"] = str((DEFAULT_ATTRITION * 100).normalize())
    return values, errors


def _plan(values: dict):
    defaults = capacity_defaults(values["manager"], year=values["year"], today=timezone.localdate())
    inputs = capacity_inputs(
        defaults,
        annual_target=values["annual_target"],
        attainment=values["attainment"],
        monthly_quota=values["monthly_quota"],
        ramp=values["ramp"],
        attrition=values["attrition"],
    )
    return defaults, capacity_plan(inputs)


@login_required
@require_safe
def capacity_page(request: HttpRequest) -> HttpResponse:
    """The capacity plan for one team and year: reps needed by month against the headcount; the gap."""
    _managers_only(request)
    values, errors = _capacity_form(request, request.GET)
    context = {"form": values, "errors": errors}
    if values["manager"] is not None and not errors:
        defaults, plan = _plan(values)
        context |= {"defaults": defaults, "plan": plan, "chart": capacity_chart(plan)}
    return render(request, "coaching/hiring_capacity.html", context, status=400 if errors else 200)


@login_required
@require_POST
def capacity_open_positions(request: HttpRequest) -> HttpResponse:
    """The plan's "Open the positions" button: one position per hire the open positions do not cover."""
    _managers_only(request)
    values, errors = _capacity_form(request, request.POST)
    if values["manager"] is None and not errors:
        errors["manager"] = "Choose the hiring manager."
    if errors:
        messages.error(request, _first(errors))
        return redirect("hiring-capacity")
    _, plan = _plan(values)
    try:
        opened = positions_open_from_plan(
            by=request.user,
            manager=values["manager"],
            starts=plan.positions_to_open,
            title=(request.POST.get("title") or "Account executive").strip()[:120],
            ramp=",".join(str(v) for v in values["ramp"]),
        )
    except ValidationError as error:
        messages.error(request, _first(_messages(error)))
        return redirect("hiring-capacity")
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, f"Opened {len(opened)} position{'s' if len(opened) != 1 else ''}.")
    return redirect("hiring-positions")


# --- Positions ------------------------------------------------------------------------------


def _position_values(request: HttpRequest, errors: dict) -> dict:
    data = request.POST
    values = {"title": data.get("title", ""), "ramp": data.get("ramp") or DEFAULT_RAMP}
    values["start_wanted"] = _date(data.get("start_wanted"), "start_wanted", errors)
    if "start_wanted" not in errors and not values["start_wanted"]:
        errors["start_wanted"] = "Give the day the new rep should start."
    territory_id = (
        parse_int(data.get("territory"), positive=True) if data.get("territory") else None
    )
    values["territory"] = (
        territories_for_positions().filter(pk=territory_id).first() if territory_id else None
    )
    if data.get("territory") and values["territory"] is None:
        errors["territory"] = "Choose a territory from the list."
    try:
        values["monthly_quota"] = parse_money(data.get("monthly_quota"))
    except ValueError:
        errors["monthly_quota"] = "Give a number, or leave it empty."
    return values


def _positions_page(request: HttpRequest, errors=None, status=200) -> HttpResponse:
    positions = positions_listed(positions_visible_to(request.user)).order_by(
        "status", "start_wanted", "pk"
    )
    status_filter = request.GET.get("status")
    if status_filter in PositionStatus.values:
        positions = positions.filter(status=status_filter)
    return render(
        request,
        "coaching/hiring_positions.html",
        {
            "positions": list(positions[:200]),
            "managers": list(hiring_managers_for(request.user).order_by("full_name", "username")),
            "territories": list(territories_for_positions()),
            "statuses": PositionStatus.choices,
            "status_filter": status_filter,
            "errors": errors or {},
            "posted": request.POST if request.method == "POST" else {},
            "default_ramp": DEFAULT_RAMP,
        },
        status=status,
    )


@login_required
def positions_page(request: HttpRequest) -> HttpResponse:
    """The positions the user hires for, and a form to open one (POST)."""
    _managers_only(request)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405)
    if request.method != "POST":
        return _positions_page(request)
    errors: dict[str, str] = {}
    values = _position_values(request, errors)
    manager_id = parse_int(request.POST.get("manager"), positive=True)
    manager = (
        hiring_managers_for(request.user).filter(pk=manager_id).first() if manager_id else None
    )
    if request.POST.get("manager") and manager is None:
        errors["manager"] = "Choose a hiring manager from the list."
    if errors:
        return _positions_page(request, errors, 400)
    try:
        position = position_create(by=request.user, manager=manager, **values)
    except ValidationError as error:
        return _positions_page(request, _messages(error), 400)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, f"Opened “{position.title}”.")
    return redirect("hiring-position", position.pk)


def _position_or_404(request: HttpRequest, position_id: int):
    position = positions_listed(positions_visible_to(request.user)).filter(pk=position_id).first()
    if position is None:
        raise Http404("No such position.")
    return position


def _position_page(request: HttpRequest, position, errors=None, status=200) -> HttpResponse:
    applicants = list(
        applicants_listed(applicants_visible_to(request.user).filter(position=position))
    )
    return render(
        request,
        "coaching/hiring_position.html",
        {
            "position": position,
            "applicants": applicants,
            "territories": list(territories_for_positions()),
            "statuses": PositionStatus.choices,
            "errors": errors or {},
            "posted": request.POST if request.method == "POST" else {},
        },
        status=status,
    )


@login_required
@require_safe
def position_page(request: HttpRequest, position_id: int) -> HttpResponse:
    _managers_only(request)
    return _position_page(request, _position_or_404(request, position_id))


@login_required
@require_POST
def position_edit(request: HttpRequest, position_id: int) -> HttpResponse:
    """Change a position's details or status (cancel it, reopen it)."""
    _managers_only(request)
    position = _position_or_404(request, position_id)
    errors: dict[str, str] = {}
    changes = {}
    if "status" in request.POST and len(request.POST) <= 2:  # the cancel/reopen buttons
        changes["status"] = request.POST["status"]
    else:
        changes = _position_values(request, errors)
        changes["status"] = request.POST.get("status", position.status)
    if errors:
        return _position_page(request, position, errors, 400)
    try:
        position_update(position=position, by=request.user, **changes)
    except ValidationError as error:
        return _position_page(request, position, _messages(error), 400)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, "The position is saved.")
    return redirect("hiring-position", position.pk)


@login_required
@require_POST
def applicant_new(request: HttpRequest, position_id: int) -> HttpResponse:
    """Add an applicant to a position (the Applied column)."""
    _managers_only(request)
    position = _position_or_404(request, position_id)
    try:
        applicant = applicant_add(
            by=request.user,
            position=position,
            full_name=request.POST.get("full_name", ""),
            email=request.POST.get("email", ""),
            source=request.POST.get("source", ""),
        )
    except ValidationError as error:
        return _position_page(request, position, _messages(error), 400)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, f"Added {applicant.full_name}.")
    return redirect("hiring-position", position.pk)


# --- The applicant board -----------------------------------------------------------------------


def _move_options(current: str) -> list[tuple[str, str, str]]:
    kinds = {ApplicantStage.HIRED: "won", ApplicantStage.REJECTED: "lost"}
    return [(s, label, kinds.get(s, "open")) for s, label in ApplicantStage.choices if s != current]


def _board_applicants(request: HttpRequest):
    applicants = applicants_visible_to(request.user)
    position_id = parse_int(request.GET.get("position"), positive=True)
    if position_id:
        applicants = applicants.filter(position_id=position_id)
    return applicants, position_id


@login_required
@require_safe
def board_page(request: HttpRequest) -> HttpResponse:
    """Applicants as columns of cards, one per stage; drag a card or use its Move control (``board.js``)."""
    _managers_only(request)
    applicants, position_id = _board_applicants(request)
    columns = board_columns(applicants)
    for column in columns:
        column.move_options = _move_options(column.stage)
        column.next_offset = CARDS_PER_COLUMN
    return render(
        request,
        "coaching/hiring_board.html",
        {
            "columns": columns,
            "positions": list(positions_visible_to(request.user).order_by("title", "pk")),
            "position_id": position_id,
            "reasons": RejectionReason.choices,
            "move_query": f"position={position_id}" if position_id else "",
            "next_url": request.get_full_path(),
        },
    )


@login_required
@require_safe
def board_column(request: HttpRequest, stage: str) -> HttpResponse:
    """More cards of one column ("Load more"), with the board's position filter.

    HTMX gets the cards to append; a browser without script gets them as a page of their own.
    """
    _managers_only(request)
    if stage not in ApplicantStage.values:
        raise Http404("No such stage.")
    applicants, position_id = _board_applicants(request)
    offset = max(parse_int(request.GET.get("offset")) or 0, 0)
    cards, has_more = column_cards(applicants, stage=stage, offset=offset)
    board_url = reverse("hiring-board") + (f"?position={position_id}" if position_id else "")
    context = {
        "column": {
            "stage": stage,
            "label": ApplicantStage(stage).label,
            "kind": BOARD_KIND.get(stage, "open"),
            "cards": cards,
            "has_more": has_more,
            "next_offset": offset + MORE_CARDS,
            "move_options": _move_options(stage),
        },
        "position_id": position_id,
        "next_url": board_url,
        "first_new": True,
    }
    if not request.htmx:
        context |= {"board_url": board_url, "first_index": offset + 1}
        return render(request, "coaching/hiring_board_column.html", context)
    return render(request, "coaching/_applicant_column_cards.html", context)


def _card_html(request: HttpRequest, applicant, next_url: str) -> str:
    return render_to_string(
        "coaching/_applicant_card.html",
        {
            "applicant": applicant,
            "move_options": _move_options(applicant.stage),
            "next_url": next_url,
        },
        request=request,
    )


def _headers(request: HttpRequest) -> dict:
    applicants, _ = _board_applicants(request)
    return {
        column.stage: render_to_string("coaching/_applicant_column_meta.html", {"column": column})
        for column in board_columns(applicants, limit=0)
    }


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = fallback
    return redirect(target)


def _refused(request: HttpRequest, fallback: str, message: str, status: int, **extra):
    if wants_json(request):
        return JsonResponse({"ok": False, "message": message, **extra}, status=status)
    messages.error(request, message)
    return _back(request, fallback)


@login_required
@require_POST
def applicant_move_view(request: HttpRequest, applicant_id: int) -> HttpResponse:
    """Move an applicant to a stage with the version the page showed (JSON to the board's script, or a
    redirect). Rejected without a reason answers 400; a stale version 409; hired makes the new rep."""
    _managers_only(request)
    applicant = applicant_for_page(request.user, applicant_id)
    if applicant is None:
        raise Http404("No such applicant.")
    fallback = reverse("hiring-applicant", args=[applicant.pk])
    stage = request.POST.get("stage", "")
    reason = request.POST.get("rejection_reason") or request.POST.get("lost_reason") or ""
    raw_version = request.POST.get("version")
    version = parse_int(raw_version) if raw_version else None
    if raw_version and version is None:
        return _refused(request, fallback, "version: give the version the page showed.", 400)
    if stage not in ApplicantStage.values:
        return _refused(request, fallback, "stage: choose a stage from the list.", 400)
    if stage == ApplicantStage.REJECTED and reason not in RejectionReason.values:
        if wants_json(request):
            return JsonResponse(
                {
                    "ok": False,
                    "needs_lost_reason": True,
                    "message": "rejection_reason: say why the applicant is rejected.",
                },
                status=400,
            )
        return _refused(
            request, fallback, "rejection_reason: say why the applicant is rejected.", 400
        )
    errors: dict[str, str] = {}
    start_on = _date(request.POST.get("start_on"), "start_on", errors)
    if errors:
        return _refused(request, fallback, _first(errors), 400)
    try:
        result = applicant_move(
            by=request.user,
            applicant=applicant,
            stage=stage,
            expected_version=version,
            rejection_reason=reason,
            start_on=start_on,
        )
    except ConflictError:
        current = applicant_for_page(request.user, applicant_id)
        return _refused(
            request,
            fallback,
            "This applicant was moved by someone else — reloaded.",
            409,
            conflict=True,
            stage=current.stage,
            card=_card_html(request, current, request.POST.get("next", "")),
            columns=_headers(request),
        )
    except ValidationError as error:
        return _refused(request, fallback, _first(_messages(error)), 400)
    except PermissionDenied as error:
        return _refused(request, fallback, str(error), 403)
    message = f"Moved {applicant.full_name} to {STAGE_LABELS[stage]}."
    if result.hire is not None:
        request.session[PASSWORD_KEY.format(applicant.pk)] = result.hire.temporary_password
        message = (
            f"Hired {applicant.full_name} as {result.hire.user.username}: "
            "their temporary password is on the applicant's page."
        )
    if not wants_json(request):
        messages.success(request, message)
        if result.hire is not None:
            return redirect("hiring-applicant", applicant.pk)
        return _back(request, fallback)
    moved = applicant_for_page(request.user, applicant_id)
    return JsonResponse(
        {
            "ok": True,
            "message": message,
            "stage": moved.stage,
            "version": moved.version,
            "card": _card_html(request, moved, request.POST.get("next", "")),
            "columns": _headers(request),
        }
    )


# --- An applicant ------------------------------------------------------------------------------


def _applicant_page(request: HttpRequest, applicant, errors=None, status=200) -> HttpResponse:
    quotas = []
    if applicant.hired_user_id:
        quotas = list(
            quotas_visible_to(request.user)
            .filter(owner_id=applicant.hired_user_id)
            .order_by("period_start")
        )
    password = request.session.pop(PASSWORD_KEY.format(applicant.pk), None)
    return render(
        request,
        "coaching/hiring_applicant.html",
        {
            "applicant": applicant,
            "notes": applicant_notes(applicant),
            "scorecards": applicant_scorecards(applicant),
            "averages": competency_averages(applicant),
            "competencies": Competency.choices,
            "recommendations": Recommendation.choices,
            "reasons": RejectionReason.choices,
            "stages": [(s, label) for s, label in ApplicantStage.choices if s != applicant.stage],
            "ratings": range(1, 6),
            "quotas": quotas,
            "temporary_password": password,
            "errors": errors or {},
            "posted": request.POST if request.method == "POST" else {},
            "today": timezone.localdate(),
        },
        status=status,
    )


def _applicant_or_404(request: HttpRequest, applicant_id: int):
    applicant = applicant_for_page(request.user, applicant_id)
    if applicant is None:
        raise Http404("No such applicant.")
    return applicant


@login_required
@require_safe
def applicant_page(request: HttpRequest, applicant_id: int) -> HttpResponse:
    """One applicant: their stage and moves, interview notes and scorecards; once hired, the new rep."""
    _managers_only(request)
    return _applicant_page(request, _applicant_or_404(request, applicant_id))


@login_required
@require_POST
def applicant_note(request: HttpRequest, applicant_id: int) -> HttpResponse:
    _managers_only(request)
    applicant = _applicant_or_404(request, applicant_id)
    try:
        interview_note_add(by=request.user, applicant=applicant, text=request.POST.get("text", ""))
    except ValidationError as error:
        return _applicant_page(request, applicant, _messages(error), 400)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, "The note is saved.")
    return redirect("hiring-applicant", applicant.pk)


@login_required
@require_POST
def applicant_scorecard(request: HttpRequest, applicant_id: int) -> HttpResponse:
    _managers_only(request)
    applicant = _applicant_or_404(request, applicant_id)
    ratings = {}
    errors = {}
    for competency, _ in Competency.choices:
        raw = request.POST.get(f"rating_{competency}")
        if raw:
            rating = parse_int(raw)
            if rating is None:
                errors["ratings"] = f"Rate {competency} with a whole number from 1 to 5."
            else:
                ratings[competency] = rating
    if errors:
        return _applicant_page(request, applicant, errors, 400)
    try:
        scorecard_record(
            by=request.user,
            applicant=applicant,
            recommendation=request.POST.get("recommendation", ""),
            ratings=ratings,
            summary=request.POST.get("summary", ""),
        )
    except ValidationError as error:
        return _applicant_page(request, applicant, _messages(error), 400)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, "The scorecard is saved.")
    return redirect("hiring-applicant", applicant.pk)
