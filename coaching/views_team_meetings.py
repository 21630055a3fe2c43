"""The team meeting pages: the list with the schedule form, and one meeting with its agenda, minutes and items.

Thin: read through ``coaching.team_meetings``, write through
``coaching.services``, show a service's refusal on the form. A meeting outside
the user's selector is a 404. With HTMX the action items swap their own
section in place.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from coaching.forms_team_meetings import (
    MinutesForm,
    TeamActionItemForm,
    TeamMeetingScheduleForm,
    TeamRecordForm,
)
from coaching.models import TeamMeetingStatus
from coaching.services import (
    team_action_item_add,
    team_action_item_complete,
    team_meeting_minutes_save,
    team_meeting_record,
    team_meeting_schedule,
    team_meeting_schedule_next,
)
from coaching.team_meetings import (
    team_meeting_action_items,
    team_meeting_agenda_for,
    team_meeting_for_page,
    team_meeting_list,
    team_meetings_managed_by,
    team_members,
)
from pipeline.forms import attach_service_errors
from salesmgr.errors import PermissionDenied
from salesmgr.models import Role, User


def _schedule_form(user: User, data=None) -> TeamMeetingScheduleForm | None:
    if user.is_admin:
        managers = User.objects.filter(role=Role.MANAGER, is_active=True).order_by(
            "full_name", "username"
        )
        return TeamMeetingScheduleForm(data, managers=managers)
    if user.is_manager:
        today = timezone.localdate()
        return TeamMeetingScheduleForm(
            data, managers=None, initial={"day": today, "time": datetime.time(9)}
        )
    return None


def _list_page(request: HttpRequest, form=None, status: int = 200) -> HttpResponse:
    user = request.user
    meetings = list(team_meeting_list(user))
    now = timezone.now()
    upcoming = [
        m
        for m in meetings
        if m.status == TeamMeetingStatus.SCHEDULED
        and m.scheduled_at >= now - datetime.timedelta(hours=12)
    ]
    return render(
        request,
        "coaching/team_meetings.html",
        {
            "meetings": meetings,
            "next_meeting": upcoming[-1] if upcoming else None,
            "form": form if form is not None else _schedule_form(user),
        },
        status=status,
    )


def _meeting_or_404(user: User, meeting_id: int):
    meeting = team_meeting_for_page(user, meeting_id)
    if meeting is None:
        raise Http404("No such team meeting.")
    return meeting


@login_required
@require_safe
def team_meetings_page(request: HttpRequest) -> HttpResponse:
    """The team meetings the user sees, newest first; a manager schedules their team's here."""
    return _list_page(request)


@login_required
@require_POST
def team_meeting_schedule_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = _schedule_form(user, request.POST)
    if form is None:
        raise Http404("Only managers schedule team meetings.")
    if form.is_valid():
        try:
            meeting = team_meeting_schedule(
                by=user,
                manager=form.cleaned_data.get("manager"),
                scheduled_at=form.scheduled_at(),
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, "Team meeting scheduled.")
            return redirect("team-meeting", meeting.pk)
    return _list_page(request, form, status=400)


def _context(request: HttpRequest, meeting, **forms_) -> dict:
    user = request.user
    may_run = team_meetings_managed_by(user).filter(pk=meeting.pk).exists()
    context = {
        "meeting": meeting,
        "agenda": team_meeting_agenda_for(user, meeting),
        "action_items": team_meeting_action_items(meeting),
        "may_run": may_run,
        "statuses": TeamMeetingStatus.choices,
    }
    if may_run:
        context["minutes_form"] = forms_.get("minutes_form") or MinutesForm(
            initial={"minutes": meeting.minutes}
        )
        context["item_form"] = forms_.get("item_form") or TeamActionItemForm(
            people=team_members(meeting.manager_id),
            initial={
                "due_on": timezone.localdate(meeting.scheduled_at) + datetime.timedelta(days=7)
            },
        )
    return context


@login_required
@require_safe
def team_meeting_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    """One team meeting: the agenda as of its time, the minutes and the action items."""
    meeting = _meeting_or_404(request.user, meeting_id)
    return render(request, "coaching/team_meeting.html", _context(request, meeting))


def _items_section(request, meeting, status: int = 200, **forms_) -> HttpResponse:
    """With HTMX, the items section alone; without it, back to the meeting page (or the page with the errors)."""
    if request.headers.get("HX-Request"):
        return render(
            request,
            "coaching/_team_meeting_items.html",
            _context(request, meeting, **forms_),
            status=status,
        )
    if status != 200:
        return render(
            request,
            "coaching/team_meeting.html",
            _context(request, meeting, **forms_),
            status=status,
        )
    return redirect("team-meeting", meeting.pk)


@login_required
@require_POST
def team_item_create(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    form = TeamActionItemForm(request.POST, people=team_members(meeting.manager_id))
    if form.is_valid():
        data = form.cleaned_data
        try:
            team_action_item_add(
                meeting=meeting,
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
            return _items_section(request, meeting)
    return _items_section(request, meeting, 400, item_form=form)


@login_required
@require_POST
def team_item_done(request: HttpRequest, meeting_id: int, item_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    item = next((i for i in team_meeting_action_items(meeting) if i.pk == item_id), None)
    if item is None:
        raise Http404("No such action item.")
    try:
        team_action_item_complete(item=item, by=request.user)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    return _items_section(request, meeting)


@login_required
@require_POST
def team_meeting_minutes(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    form = MinutesForm(request.POST)
    if form.is_valid():
        try:
            team_meeting_minutes_save(
                meeting=meeting, by=request.user, minutes=form.cleaned_data["minutes"]
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as refusal:
            messages.error(request, str(refusal))
            return redirect("team-meeting", meeting.pk)
        else:
            messages.success(request, "Minutes saved.")
            return redirect("team-meeting", meeting.pk)
    return render(
        request,
        "coaching/team_meeting.html",
        _context(request, meeting, minutes_form=form),
        status=400,
    )


@login_required
@require_POST
def team_meeting_status(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    form = TeamRecordForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose scheduled, held or cancelled.")
        return redirect("team-meeting", meeting.pk)
    try:
        meeting = team_meeting_record(
            meeting=meeting, by=request.user, status=form.cleaned_data["status"]
        )
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Recorded as {meeting.get_status_display().lower()}.")
    return redirect("team-meeting", meeting.pk)


@login_required
@require_POST
def team_meeting_next(request: HttpRequest, meeting_id: int) -> HttpResponse:
    """Schedule the team's meeting a week after this one (or open it, if it is already there)."""
    meeting = _meeting_or_404(request.user, meeting_id)
    try:
        following = team_meeting_schedule_next(meeting=meeting, by=request.user)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
        return redirect("team-meeting", meeting.pk)
    messages.success(request, "Next week's team meeting is scheduled.")
    return redirect("team-meeting", following.pk)
