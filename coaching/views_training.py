"""The training, mentoring and onboarding pages, and the home page's training reminders.

Thin: read through ``coaching.training``, write through ``coaching.services``,
show a service's refusal on the form. A record outside the user's selector is
a 404. Forms post back and redirect; with HTMX the checklist and the home
panel swap themselves in place.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from coaching.forms_training import (
    AssignForm,
    MatrixFilterForm,
    MentorMeetingForm,
    MentorshipForm,
    OnboardingStartForm,
)
from coaching.services import (
    assignment_complete,
    courses_assign,
    mentor_meeting_record,
    mentorship_create,
    mentorship_end,
    onboarding_start,
    onboarding_step_tick,
)
from coaching.training import (
    assignments_of,
    assignments_visible_to,
    courses_visible_to,
    mentor_meetings_visible_to,
    mentorship_list,
    mentorships_managed_by,
    mentorships_visible_to,
    onboarding_checklist,
    onboarding_for_page,
    onboarding_progress_visible_to,
    onboarding_summaries,
    people_in_scope,
    training_due,
    training_matrix,
)
from pipeline.forms import attach_service_errors
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for


def _oversees(user: User) -> bool:
    return user.is_manager or user.is_admin


def _team(user: User):
    return people_in_scope(user).order_by("full_name", "username")


def _training_context(request: HttpRequest, *, assign_form=None, start_form=None) -> dict:
    user = request.user
    today = timezone.localdate()
    context = {"today": today, "oversees": _oversees(user), "mine": list(assignments_of(user))}
    if not _oversees(user):
        context["onboarding"] = onboarding_summaries(user, today=today)
        return context
    team = _team(user)
    filters = MatrixFilterForm(request.GET or None, people=team)
    people, kind = team, ""
    if filters.is_valid():
        kind = filters.cleaned_data["kind"]
        if filters.cleaned_data["person"] is not None:
            people = team.filter(pk=filters.cleaned_data["person"].pk)
    matrix = training_matrix(user, today=today, people=people, kind=kind or None)
    if filters.is_valid() and filters.cleaned_data["gaps"]:
        matrix.rows = [row for row in matrix.rows if row.gaps]
    courses = courses_visible_to(user).filter(active=True).order_by("title")
    return {
        **context,
        "matrix": matrix,
        "filters": filters,
        "assign_form": assign_form
        or AssignForm(courses=courses, people=team, initial={"due_on": today + _MONTH}),
        "start_form": start_form or OnboardingStartForm(people=team, initial={"started_on": today}),
        "onboarding": onboarding_summaries(user, today=today, people=team),
    }


_MONTH = datetime.timedelta(days=30)


@login_required
@require_safe
def training_page(request: HttpRequest) -> HttpResponse:
    """A manager's "who is missing what" matrix for their team, with filters and the assign form;
    a rep's own assignments and certifications. A fixed number of queries whatever the team's size."""
    return render(request, "coaching/training.html", _training_context(request))


@login_required
@require_POST
def training_assign(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not _oversees(user):
        raise Http404
    courses = courses_visible_to(user).filter(active=True).order_by("title")
    form = AssignForm(request.POST, courses=courses, people=_team(user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = courses_assign(
                by=user,
                course=data["course"],
                due_on=data["due_on"],
                people=list(data["people"]),
                team=data["team"],
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            held = "" if created else " Everyone chosen already has it."
            messages.success(
                request, f"{data['course'].title} assigned to {len(created)} people.{held}"
            )
            return redirect("training")
    context = _training_context(request, assign_form=form)
    return render(request, "coaching/training.html", context, status=400)


@login_required
@require_POST
def assignment_done(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """Mark an assignment completed today (its person, or their manager); from the home panel with HTMX."""
    assignment = assignments_visible_to(request.user).filter(pk=assignment_id).first()
    if assignment is None:
        raise Http404("No such assignment.")
    try:
        done = assignment_complete(assignment=assignment, by=request.user)
    except (PermissionDenied, ValidationError) as refusal:
        text = " ".join(refusal.messages) if isinstance(refusal, ValidationError) else str(refusal)
        if request.headers.get("HX-Request"):
            return _home_training(request, error=text, status=400)
        messages.error(request, text)
    else:
        if request.headers.get("HX-Request"):
            return _home_training(request)
        messages.success(request, f"{assignment.course.title} completed.")
        if done.expires_on:
            messages.info(request, f"Valid until {done.expires_on:%-d %b %Y}.")
    return redirect("home" if request.POST.get("back") == "home" else "training")


def _home_training(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    today = timezone.localdate()
    due = training_due(request.user, today=today)
    return render(
        request,
        "coaching/_home_training.html",
        {**due, "count": len(due["due"]) + len(due["expiring"]), "today": today, "error": error},
        status=status,
    )


@login_required
@require_safe
def home_training(request: HttpRequest) -> HttpResponse:
    """The home page's panel: your courses due within a week or overdue, and your certifications
    expiring within 30 days (HTMX-loaded; two queries)."""
    return _home_training(request)


# --- Mentoring ------------------------------------------------------------------------


def _mentoring_context(user: User, form=None) -> dict:
    context = {"mentorships": mentorship_list(user), "oversees": _oversees(user)}
    if _oversees(user):
        context["form"] = form or MentorshipForm(
            people=_team(user), initial={"started_on": timezone.localdate()}
        )
    return context


@login_required
@require_safe
def mentorships_page(request: HttpRequest) -> HttpResponse:
    """The mentor pairings you see (your own as mentor or mentee; a manager's team's), and the form to pair."""
    return render(request, "coaching/mentorships.html", _mentoring_context(request.user))


@login_required
@require_POST
def mentorship_add(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not _oversees(user):
        raise Http404
    form = MentorshipForm(request.POST, people=_team(user))
    if form.is_valid():
        try:
            pairing = mentorship_create(by=user, **form.cleaned_data)
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(
                request,
                f"{pairing.mentor.display_name} now mentors {pairing.mentee.display_name}.",
            )
            return redirect("mentorship", pairing.pk)
    return render(request, "coaching/mentorships.html", _mentoring_context(user, form), status=400)


def _pairing_or_404(user: User, mentorship_id: int):
    pairing = (
        mentorships_visible_to(user).select_related("mentor", "mentee").filter(pk=mentorship_id)
    ).first()
    if pairing is None:
        raise Http404("No such mentorship.")
    return pairing


def _pairing_page(request, pairing, form=None, status=200) -> HttpResponse:
    user = request.user
    manages = mentorships_managed_by(user).filter(pk=pairing.pk).exists()
    may_record = manages or user.pk in (pairing.mentor_id, pairing.mentee_id)
    meetings = mentor_meetings_visible_to(user).filter(mentorship=pairing).order_by("-held_on")
    return render(
        request,
        "coaching/mentorship.html",
        {
            "pairing": pairing,
            "meetings": list(meetings),
            "may_end": manages and pairing.ended_on is None,
            "form": (form or MentorMeetingForm(initial={"held_on": timezone.localdate()}))
            if may_record
            else None,
        },
        status=status,
    )


@login_required
@require_safe
def mentorship_page(request: HttpRequest, mentorship_id: int) -> HttpResponse:
    """One pairing: its goals and its meetings, with the form to record one."""
    return _pairing_page(request, _pairing_or_404(request.user, mentorship_id))


@login_required
@require_POST
def mentor_meeting_add(request: HttpRequest, mentorship_id: int) -> HttpResponse:
    pairing = _pairing_or_404(request.user, mentorship_id)
    form = MentorMeetingForm(request.POST)
    if form.is_valid():
        try:
            mentor_meeting_record(mentorship=pairing, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as refusal:
            messages.error(request, str(refusal))
            return redirect("mentorship", pairing.pk)
        else:
            messages.success(request, "Meeting recorded.")
            return redirect("mentorship", pairing.pk)
    return _pairing_page(request, pairing, form, status=400)


@login_required
@require_POST
def mentorship_stop(request: HttpRequest, mentorship_id: int) -> HttpResponse:
    pairing = _pairing_or_404(request.user, mentorship_id)
    try:
        mentorship_end(mentorship=pairing, by=request.user)
    except (PermissionDenied, ValidationError) as refusal:
        messages.error(
            request,
            " ".join(refusal.messages) if isinstance(refusal, ValidationError) else str(refusal),
        )
    else:
        messages.success(request, "Mentorship ended.")
    return redirect("mentorship", pairing.pk)


# --- Onboarding -----------------------------------------------------------------------


@login_required
@require_POST
def onboarding_begin(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not _oversees(user):
        raise Http404
    form = OnboardingStartForm(request.POST, people=_team(user))
    if form.is_valid():
        try:
            onboarding = onboarding_start(by=user, **form.cleaned_data)
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, f"Onboarding started for {onboarding.person.display_name}.")
            return redirect("onboarding", onboarding.person_id)
    context = _training_context(request, start_form=form)
    return render(request, "coaching/training.html", context, status=400)


def _checklist(request: HttpRequest, person_id: int, *, template: str, status: int = 200):
    onboarding = onboarding_for_page(request.user, person_id)
    if onboarding is None:
        raise Http404("No onboarding for this person.")
    steps = onboarding_checklist(onboarding)
    done = sum(step.done_on is not None for step in steps)
    return render(
        request,
        template,
        {
            "onboarding": onboarding,
            "steps": steps,
            "done": done,
            "total": len(steps),
            "today": timezone.localdate(),
            "may_tick": may_act_for(actor=request.user, owner_id=onboarding.person_id),
        },
        status=status,
    )


@login_required
@require_safe
def onboarding_page(request: HttpRequest, person_id: int) -> HttpResponse:
    """A new rep's checklist: each step, when it is due, and who ticked it; the rep and their managers tick."""
    return _checklist(request, person_id, template="coaching/onboarding.html")


@login_required
@require_POST
def onboarding_tick(request: HttpRequest, person_id: int, progress_id: int) -> HttpResponse:
    """Tick or untick one step; with HTMX the checklist swaps itself in place."""
    progress = (
        onboarding_progress_visible_to(request.user)
        .filter(pk=progress_id, onboarding__person_id=person_id)
        .first()
    )
    if progress is None:
        raise Http404("No such step.")
    try:
        onboarding_step_tick(
            progress=progress, by=request.user, done=request.POST.get("done") == "1"
        )
    except PermissionDenied as refusal:
        if request.headers.get("HX-Request"):
            return HttpResponse(str(refusal), status=403)
        messages.error(request, str(refusal))
    if request.headers.get("HX-Request"):
        return _checklist(request, person_id, template="coaching/_onboarding_checklist.html")
    return redirect(reverse("onboarding", args=[person_id]))
