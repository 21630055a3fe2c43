"""The one-on-one pages: the list, a series, a meeting with its agenda, and the home page's action items.

Thin: read through ``coaching.selectors``, write through ``coaching.services``,
show a service's refusal on the form. A record outside the user's selector is
a 404. Forms post back and redirect; with HTMX the talking points and action
items swap their own section in place.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from coaching.celebrations import panel_celebrations
from coaching.forms import (
    ActionItemForm,
    NotesForm,
    RecordForm,
    ScheduleForm,
    ShoutOutForm,
    TalkingPointForm,
)
from coaching.models import MeetingStatus
from coaching.picker import team_pick
from coaching.selectors import (
    action_items_due,
    action_items_visible_to,
    celebrations_for,
    meeting_action_items,
    meeting_agenda,
    meeting_for_page,
    meeting_talking_points,
    meetings_managed_by,
    meetings_tomorrow,
    private_note_text,
    series_list,
    series_managed_by,
    series_meetings,
    series_visible_to,
)
from coaching.services import (
    action_item_add,
    action_item_complete,
    meeting_notes_save,
    meeting_record,
    series_schedule,
    series_stop,
    shout_out_create,
    talking_point_add,
)
from pipeline.forms import attach_service_errors
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import team_of


def _schedulable_reps(user: User):
    if user.is_admin:
        return User.objects.filter(is_active=True, manager__isnull=False)
    if user.is_manager:
        return team_of(user).filter(is_active=True, manager_id=user.pk)
    return User.objects.none()


def _meeting_or_404(user: User, meeting_id: int):
    meeting = meeting_for_page(user, meeting_id)
    if meeting is None:
        raise Http404("No such one-on-one.")
    return meeting


@login_required
@require_safe
def one_on_ones(request: HttpRequest) -> HttpResponse:
    """A manager's one-on-ones per rep, a rep's own; managers schedule new ones here."""
    user = request.user
    team, picker = team_pick(request)
    form = ScheduleForm(reps=_schedulable_reps(user), initial={"starts_on": timezone.localdate()})
    return render(
        request,
        "coaching/one_on_ones.html",
        {
            "series": series_list(user, team=team),
            "form": form,
            "may_schedule": not user.is_rep,
            **picker,
        },
    )


@login_required
@require_POST
def schedule(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ScheduleForm(request.POST, reps=_schedulable_reps(user))
    if form.is_valid():
        try:
            series = series_schedule(by=user, **form.cleaned_data)
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, f"One-on-ones with {series.rep.display_name} scheduled.")
            return redirect("one-on-one-series", series.pk)
    return render(
        request,
        "coaching/one_on_ones.html",
        {"series": series_list(user), "form": form, "may_schedule": not user.is_rep},
        status=400,
    )


@login_required
@require_safe
def series_detail(request: HttpRequest, series_id: int) -> HttpResponse:
    series = (
        series_visible_to(request.user)
        .select_related("manager", "rep")
        .filter(pk=series_id)
        .first()
    )
    if series is None:
        raise Http404("No such one-on-one series.")
    return render(
        request,
        "coaching/series.html",
        {
            "series": series,
            "meetings": list(series_meetings(series)),
            "may_run": series_managed_by(request.user).filter(pk=series.pk).exists(),
        },
    )


@login_required
@require_POST
def series_end(request: HttpRequest, series_id: int) -> HttpResponse:
    series = series_visible_to(request.user).filter(pk=series_id).first()
    if series is None:
        raise Http404("No such one-on-one series.")
    try:
        series_stop(series=series, by=request.user)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, "The series is stopped; meetings still ahead are cancelled.")
    return redirect("one-on-one-series", series.pk)


def _meeting_context(request, meeting, **forms_) -> dict:
    user = request.user
    may_run = meetings_managed_by(user).filter(pk=meeting.pk).exists()
    context = {
        "meeting": meeting,
        "series": meeting.series,
        "agenda": meeting_agenda(meeting),
        "talking_points": meeting_talking_points(meeting),
        "action_items": meeting_action_items(meeting),
        "may_run": may_run,
        "statuses": MeetingStatus.choices,
        "point_form": forms_.get("point_form") or TalkingPointForm(),
    }
    if may_run:
        private = private_note_text(user, meeting)
        context["notes_form"] = forms_.get("notes_form") or NotesForm(
            initial={"shared_notes": meeting.shared_notes, "private_notes": private}
        )
        context["item_form"] = forms_.get("item_form") or ActionItemForm(
            meeting=meeting, initial={"due_on": timezone.localdate(meeting.scheduled_at)}
        )
    return context


@login_required
@require_safe
def meeting_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    """One meeting: the agenda as of its time, talking points, notes and action items."""
    meeting = _meeting_or_404(request.user, meeting_id)
    return render(request, "coaching/meeting.html", _meeting_context(request, meeting))


def _section(request, meeting, template: str, status: int = 200, **forms_) -> HttpResponse:
    """With HTMX, the section alone; without it, back to the meeting page (or the page with the errors)."""
    if request.headers.get("HX-Request"):
        return render(
            request, template, _meeting_context(request, meeting, **forms_), status=status
        )
    if status != 200:
        context = _meeting_context(request, meeting, **forms_)
        return render(request, "coaching/meeting.html", context, status=status)
    return redirect("one-on-one", meeting.pk)


@login_required
@require_POST
def talking_point_create(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    form = TalkingPointForm(request.POST)
    if form.is_valid():
        try:
            talking_point_add(meeting=meeting, by=request.user, text=form.cleaned_data["text"])
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            return _section(request, meeting, "coaching/_talking_points.html")
    return _section(request, meeting, "coaching/_talking_points.html", 400, point_form=form)


@login_required
@require_POST
def action_item_create(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    form = ActionItemForm(request.POST, meeting=meeting)
    if form.is_valid():
        data = form.cleaned_data
        owner = User.objects.filter(pk=data["owner"]).first()
        try:
            action_item_add(
                meeting=meeting,
                by=request.user,
                owner=owner,
                text=data["text"],
                due_on=data["due_on"],
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as refusal:
            form.add_error(None, str(refusal))
        else:
            return _section(request, meeting, "coaching/_action_items.html")
    return _section(request, meeting, "coaching/_action_items.html", 400, item_form=form)


@login_required
@require_POST
def action_item_done(request: HttpRequest, item_id: int) -> HttpResponse:
    item = action_items_visible_to(request.user).filter(pk=item_id).first()
    if item is None:
        raise Http404("No such action item.")
    try:
        action_item_complete(item=item, by=request.user)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    back = request.POST.get("back")
    if back == "home":
        if request.headers.get("HX-Request"):
            return _home_items(request)
        return redirect("home")
    meeting = meeting_for_page(request.user, int(back)) if back and back.isdigit() else None
    if meeting is None:
        return redirect("one-on-ones")
    return _section(request, meeting, "coaching/_action_items.html")


@login_required
@require_POST
def meeting_notes(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    form = NotesForm(request.POST)
    if form.is_valid():
        try:
            meeting_notes_save(
                meeting=meeting,
                by=request.user,
                shared=form.cleaned_data["shared_notes"],
                private=form.cleaned_data["private_notes"],
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as refusal:
            messages.error(request, str(refusal))
            return redirect("one-on-one", meeting.pk)
        else:
            messages.success(request, "Notes saved.")
            return redirect("one-on-one", meeting.pk)
    return render(
        request,
        "coaching/meeting.html",
        _meeting_context(request, meeting, notes_form=form),
        status=400,
    )


@login_required
@require_POST
def meeting_status(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = _meeting_or_404(request.user, meeting_id)
    form = RecordForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose scheduled, held, missed or cancelled.")
        return redirect("one-on-one", meeting.pk)
    try:
        meeting_record(meeting=meeting, by=request.user, status=form.cleaned_data["status"])
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Recorded as {meeting.get_status_display().lower()}.")
    return redirect("one-on-one", meeting.pk)


def _home_items(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    return render(
        request,
        "coaching/_home_action_items.html",
        {
            "items": action_items_due(request.user, today=today),
            "tomorrow": meetings_tomorrow(request.user, today=today),
            "today": today,
        },
    )


@login_required
@require_safe
def home_action_items(request: HttpRequest) -> HttpResponse:
    """The home page's panel: your own action items due within a week or overdue, and tomorrow's
    one-on-ones as the daily reminders listed them (HTMX-loaded; two queries)."""
    return _home_items(request)


def _celebrations(request: HttpRequest, form: ShoutOutForm | None = None) -> HttpResponse:
    user = request.user
    if form is None and (user.is_manager or user.is_admin):
        form = ShoutOutForm(reps=_praisable(user))
    today = timezone.localdate()
    return render(
        request,
        "coaching/_home_celebrations.html",
        {**celebrations_for(user), **panel_celebrations(user, today), "form": form},
    )


def _praisable(user: User):
    people = User.objects.all() if user.is_admin else team_of(user)
    return people.filter(is_active=True).exclude(pk=user.pk).order_by("full_name", "username")


@login_required
@require_safe
def home_celebrations(request: HttpRequest) -> HttpResponse:
    """The home page's celebrations: the latest quota milestones and shout-outs you may see, and for a
    manager the form to add a shout-out (HTMX-loaded)."""
    return _celebrations(request)


@login_required
@require_POST
def shout_out_add(request: HttpRequest) -> HttpResponse:
    """A manager's shout-out from the celebrations panel; a refusal is shown on the form."""
    if not (request.user.is_manager or request.user.is_admin):
        raise Http404
    form = ShoutOutForm(request.POST, reps=_praisable(request.user))
    if form.is_valid():
        try:
            shout_out_create(
                by=request.user, rep=form.cleaned_data["rep"], message=form.cleaned_data["message"]
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            form = None
    if request.headers.get("HX-Request"):
        return _celebrations(request, form)
    if form is None:
        messages.success(request, "Shout-out posted.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("home")
