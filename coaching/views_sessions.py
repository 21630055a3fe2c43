"""The coaching-session pages: the list, the form for a new one, and a session with its GROW notes,
evidence, commitments and figures before and after.

Thin: read through ``coaching.sessions``, write through ``coaching.services``,
show a service's refusal on the form. A session outside the user's selector is
a 404. Commitments are added and completed in place with HTMX.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from coaching.forms_sessions import CommitmentForm, SessionEditForm, SessionForm, SessionStatusForm
from coaching.models import SessionFocus, SessionStatus
from coaching.services import (
    action_item_complete,
    session_commitment_add,
    session_create,
    session_record,
    session_update,
)
from coaching.sessions import (
    focus_label,
    session_before_after,
    session_commitments,
    session_for_page,
    session_list,
    session_reps_for,
    sessions_managed_by,
)
from coaching.skills import Skill
from pipeline.forms import attach_service_errors
from pipeline.models import StageKind
from pipeline.selectors import deals_visible_to, stages_visible_to
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import users_visible_to
from salesmgr.values import parse_int


def _session_or_404(user: User, session_id: int):
    session = session_for_page(user, session_id)
    if session is None:
        raise Http404("No such coaching session.")
    return session


@login_required
@require_safe
def sessions_page(request: HttpRequest) -> HttpResponse:
    """The sessions the user sees, newest first, optionally of one rep."""
    user = request.user
    raw_rep = request.GET.get("rep") or None
    rep_id = None
    if raw_rep is not None:
        rep_id = parse_int(raw_rep, positive=True)
        if rep_id is None:
            return HttpResponseBadRequest("rep: give the id of a rep.")
    reps = [] if user.is_rep else list(
        users_visible_to(user).filter(coaching_sessions__isnull=False).distinct()
        .order_by("full_name", "username")
    )  # fmt: skip
    return render(
        request,
        "coaching/sessions.html",
        {
            "sessions": list(session_list(user, rep_id=rep_id)),
            "reps": reps,
            "rep_id": rep_id,
            "may_create": not user.is_rep,
        },
    )


def _session_form(user: User, data=None, initial=None) -> SessionForm:
    rep_id = parse_int(str((data or initial or {}).get("rep") or ""), positive=True)
    deals = (
        deals_visible_to(user)
        .filter(status=StageKind.OPEN, owner__in=session_reps_for(user).values("pk"))
        .select_related("owner")
        .order_by("name", "id")
    )
    if rep_id is not None:
        deals = deals.filter(owner_id=rep_id)
    stages = (
        stages_visible_to(user)
        .filter(kind=StageKind.OPEN)
        .select_related("pipeline")
        .order_by("pipeline__name", "order")
    )
    return SessionForm(
        data,
        initial=initial,
        reps=session_reps_for(user).order_by("full_name", "username"),
        stages=stages,
        deals=deals,
    )


def _prefill(request: HttpRequest) -> dict:
    """The form's first values from ``?rep=&stage=&skill=&deal=``: the insights page links here."""
    initial = {"scheduled_on": timezone.localdate()}
    for name in ("rep", "stage", "deal"):
        value = parse_int(request.GET.get(name, ""), positive=True)
        if value is not None:
            initial[name] = value
    skill = request.GET.get("skill")
    if skill in Skill.values:
        initial["skill"] = skill
    for focus in (SessionFocus.DEAL, SessionFocus.STAGE, SessionFocus.SKILL):
        if focus in initial:
            initial["focus"] = focus
    return initial


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def session_new(request: HttpRequest) -> HttpResponse:
    """Plan a session: managers for their team, admins for anyone."""
    user = request.user
    if user.is_rep:
        raise Http404("Reps do not plan coaching sessions.")
    if request.method != "POST":
        form = _session_form(user, initial=_prefill(request))
        return render(request, "coaching/session_new.html", {"form": form})
    form = _session_form(user, data=request.POST)
    if form.is_valid():
        try:
            session = session_create(by=user, **form.cleaned_data)
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, f"Coaching session with {session.rep.display_name} planned.")
            return redirect("coaching-session", session.pk)
    return render(request, "coaching/session_new.html", {"form": form}, status=400)


def _context(request: HttpRequest, session, **forms_) -> dict:
    user = request.user
    may_run = sessions_managed_by(user).filter(pk=session.pk).exists()
    figures = session_before_after(session, timezone.localdate())
    context = {
        "session": session,
        "focus_label": focus_label(session),
        "figures": figures,
        "figure_rows": figure_rows(figures),
        "evidence": session.evidence or {},
        "commitments": session_commitments(session),
        "may_run": may_run,
        "statuses": SessionStatus.choices,
    }
    if may_run:
        context["edit_form"] = forms_.get("edit_form") or SessionEditForm.of(session)
        context["commitment_form"] = forms_.get("commitment_form") or CommitmentForm(
            session=session, initial={"due_on": session.follow_up_on or session.scheduled_on}
        )
    return context


@login_required
@require_safe
def session_page(request: HttpRequest, session_id: int) -> HttpResponse:
    """One session: its GROW notes, the evidence, the commitments and the figures before and after."""
    session = _session_or_404(request.user, session_id)
    return render(request, "coaching/session.html", _context(request, session))


@login_required
@require_POST
def session_edit(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _session_or_404(request.user, session_id)
    form = SessionEditForm(request.POST)
    if form.is_valid():
        try:
            session_update(session=session, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as refusal:
            messages.error(request, str(refusal))
            return redirect("coaching-session", session.pk)
        else:
            messages.success(request, "Session saved.")
            return redirect("coaching-session", session.pk)
    context = _context(request, session, edit_form=form)
    return render(request, "coaching/session.html", context, status=400)


@login_required
@require_POST
def session_status(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _session_or_404(request.user, session_id)
    form = SessionStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose planned, held or cancelled.")
        return redirect("coaching-session", session.pk)
    try:
        session = session_record(
            session=session, by=request.user, status=form.cleaned_data["status"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(m for ms in error.message_dict.values() for m in ms))
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Recorded as {session.get_status_display().lower()}.")
    return redirect("coaching-session", session.pk)


def _commitments(request, session, status: int = 200, **forms_) -> HttpResponse:
    """With HTMX, the commitments section alone; without it, back to the session page."""
    if request.headers.get("HX-Request"):
        return render(
            request,
            "coaching/_session_commitments.html",
            _context(request, session, **forms_),
            status=status,
        )
    if status != 200:
        return render(
            request, "coaching/session.html", _context(request, session, **forms_), status=status
        )
    return redirect("coaching-session", session.pk)


@login_required
@require_POST
def commitment_create(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _session_or_404(request.user, session_id)
    form = CommitmentForm(request.POST, session=session)
    if form.is_valid():
        data = form.cleaned_data
        try:
            session_commitment_add(
                session=session,
                by=request.user,
                owner=User.objects.filter(pk=data["owner"]).first(),
                text=data["text"],
                due_on=data["due_on"],
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as refusal:
            form.add_error(None, str(refusal))
        else:
            return _commitments(request, session)
    return _commitments(request, session, 400, commitment_form=form)


@login_required
@require_POST
def commitment_done(request: HttpRequest, session_id: int, item_id: int) -> HttpResponse:
    session = _session_or_404(request.user, session_id)
    item = session.commitments.filter(pk=item_id).first()
    if item is None:
        raise Http404("No such commitment.")
    try:
        action_item_complete(item=item, by=request.user)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    return _commitments(request, session)


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _days(value) -> str:
    return "n/a" if value is None else f"{value:.1f} days"


def _score(value) -> str:
    return "n/a" if value is None else f"{value:.2f} of 5"


def _days_between(side: dict) -> str:
    """A window ``[start, end)`` as people write it: first and last day."""
    last = side["end"] - datetime.timedelta(days=1)
    return f"{side['start']:%-d %b %Y} – {last:%-d %b %Y}"


def figure_rows(figures: dict) -> list[dict]:
    """The before-and-after table: one row per figure, each side as text."""
    before, after = figures["before"] or {}, figures["after"] or {}

    def row(label, render_):
        return {
            "label": label,
            "before": render_(before) if before else "—",
            "after": render_(after) if after else "not yet",
        }

    if figures["kind"] == "stage":
        return [
            row("Conversion", lambda side: f"{_percent(side['conversion'])} ({side['advanced']} of {side['entered']})"),
            row("Mean time in stage", lambda side: f"{_days(side['avg_days_in_stage'])} ({side['stays']} stay{'s' if side['stays'] != 1 else ''})"),
            row("Window", lambda side: _days_between(side)),
        ]  # fmt: skip
    if figures["kind"] == "skill":
        rows = [
            row("Mean ride-along score", lambda side: f"{_score(side['mean_score'])} ({side['scorecards']} scorecard{'s' if side['scorecards'] != 1 else ''})"),
        ]  # fmt: skip
        if "win_rate" in before:
            rows.append(row("Win rate", lambda side: f"{_percent(side['win_rate'])} ({side['won']} won, {side['lost']} lost)"))  # fmt: skip
        return [*rows, row("Window", lambda side: _days_between(side))]
    return [
        row("Stage", lambda side: f"{side['stage_name']} ({side['status']})"),
        row("Amount", lambda side: f"{side['currency']} {float(side['amount']):,.0f}"),
        row("Expected close", lambda side: str(side["expected_close_date"])),
    ]
