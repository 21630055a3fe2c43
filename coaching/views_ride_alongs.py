"""The ride-along pages: the list, recording one with its scorecard, one ride-along, and a rep's skills history.

Thin: read through ``coaching.ride_alongs``, write through ``coaching.services``,
show a service's refusal on the form. A record outside the user's selector is
a 404. The new-ride-along form reloads its account, deal and visit choices
with HTMX when the rep or the account changes (and with a button without it).
"""

import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from coaching.charts_ride_alongs import skill_charts
from coaching.forms_ride_alongs import RideAlongForm
from coaching.models import RideAlong
from coaching.ride_alongs import (
    ride_along_for_page,
    ride_along_subjects_for,
    ride_alongs_listed,
    ride_alongs_managed_by,
    ride_alongs_visible_to,
    skills_history,
    skills_subjects_visible_to,
)
from coaching.services import ride_along_delete, ride_along_record, ride_along_update
from pipeline.forms import attach_service_errors
from salesmgr.errors import PermissionDenied
from salesmgr.values import parse_int

PER_PAGE = 25
# The choices the new and edit forms take from the query string as they reload.
CHOSEN = ("visited_on", "account", "deal", "activity", "observations")


def _date(raw: str | None, name: str) -> datetime.date | None:
    if not raw:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}: give a date as YYYY-MM-DD.") from None


@login_required
@require_safe
def ride_alongs_page(request: HttpRequest) -> HttpResponse:
    """The ride-alongs in the user's scope, newest first, filtered by rep and days (a fixed number of queries a page)."""
    user = request.user
    rides = ride_alongs_visible_to(user)
    raw_rep = request.GET.get("rep") or None
    rep_id = None
    if raw_rep is not None:
        rep_id = parse_int(raw_rep, positive=True)
        if rep_id is None:
            return HttpResponseBadRequest("rep: give the id of a person.")
        rides = rides.filter(rep_id=rep_id)
    try:
        since = _date(request.GET.get("from"), "from")
        until = _date(request.GET.get("to"), "to")
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
    if since:
        rides = rides.filter(visited_on__gte=since)
    if until:
        rides = rides.filter(visited_on__lte=until)
    page_number = parse_int(request.GET.get("page", "1"), positive=True)
    if page_number is None:
        return HttpResponseBadRequest("page: give a page number from 1.")
    try:
        page = Paginator(ride_alongs_listed(rides), PER_PAGE).page(page_number)
    except EmptyPage as error:
        raise Http404("No such page of ride-alongs.") from error
    may_record = user.is_manager or user.is_admin
    query = {
        name: value
        for name, value in (("rep", rep_id), ("from", since), ("to", until))
        if value is not None
    }
    return render(
        request,
        "coaching/ride_alongs.html",
        {
            "page": page,
            "people": list(ride_along_subjects_for(user).order_by("full_name", "username"))
            if may_record
            else [],
            "rep_id": rep_id,
            "since": since,
            "until": until,
            "page_query": urlencode(query),
            "may_record": may_record,
        },
    )


def _form_page(
    request: HttpRequest, form: RideAlongForm, status: int = 200, ride: RideAlong | None = None
) -> HttpResponse:
    heading = "Edit the ride-along" if ride else "Log a ride-along"
    return render(
        request,
        "coaching/ride_along_form.html",
        {"form": form, "ride": ride, "heading": heading},
        status=status,
    )


def _chosen_so_far(request: HttpRequest, names: tuple[str, ...]) -> dict:
    return {name: request.GET[name] for name in names if request.GET.get(name)}


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def ride_along_new(request: HttpRequest) -> HttpResponse:
    """Record a ride-along: rep, day, account, deal, visit, observations and a score per skill.

    A GET with choices made so far (``rep``, ``account``, ``deal``) fills the form with
    them and offers the choices that follow (the HTMX swap reads the same page).
    """
    user = request.user
    if not (user.is_manager or user.is_admin):
        raise Http404("Only managers record ride-alongs.")
    if request.method != "POST":
        initial = {"visited_on": timezone.localdate()}
        initial |= _chosen_so_far(request, ("rep", *CHOSEN))
        return _form_page(
            request, RideAlongForm(by=user, initial=initial, refresh_url=request.path)
        )
    form = RideAlongForm(request.POST, by=user, refresh_url=request.path)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ride_along = ride_along_record(
                by=user,
                rep=data["rep"],
                visited_on=data["visited_on"],
                account=data["account"],
                deal=data["deal"],
                activity=form.activity_chosen(),
                observations=data["observations"],
                scores=form.scores(),
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, f"Ride-along with {ride_along.rep.display_name} recorded.")
            return redirect("ride-along", ride_along.pk)
    return _form_page(request, form, status=400)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def ride_along_edit(request: HttpRequest, ride_along_id: int) -> HttpResponse:
    """Correct a ride-along: its day, account, deal, visit, observations and scorecard (its people stay)."""
    user = request.user
    ride = ride_along_for_page(user, ride_along_id)
    if ride is None or not ride_alongs_managed_by(user).filter(pk=ride.pk).exists():
        raise Http404("No such ride-along within your reach.")
    if request.method != "POST":
        initial = {
            "visited_on": ride.visited_on,
            "account": ride.account_id,
            "deal": ride.deal_id,
            "activity": str(ride.activity_id or ""),
            "observations": ride.observations,
        }
        for line in ride.scores.all():
            initial |= {f"score_{line.skill}": line.score, f"note_{line.skill}": line.note}
        initial |= _chosen_so_far(request, CHOSEN)
        form = RideAlongForm(by=user, initial=initial, refresh_url=request.path, fixed_rep=ride.rep)
        return _form_page(request, form, ride=ride)
    form = RideAlongForm(request.POST, by=user, refresh_url=request.path, fixed_rep=ride.rep)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ride_along_update(
                ride_along=ride,
                by=user,
                visited_on=data["visited_on"],
                account=data["account"],
                deal=data["deal"],
                activity=form.activity_chosen(),
                observations=data["observations"],
                scores=form.scores(),
            )
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, "Ride-along saved.")
            return redirect("ride-along", ride.pk)
    return _form_page(request, form, status=400, ride=ride)


@login_required
@require_safe
def ride_along_page(request: HttpRequest, ride_along_id: int) -> HttpResponse:
    """One ride-along: the visit, the observations and the scorecard (read only for the rep)."""
    user = request.user
    ride_along = ride_along_for_page(user, ride_along_id)
    if ride_along is None:
        raise Http404("No such ride-along.")
    return render(
        request,
        "coaching/ride_along.html",
        {
            "ride": ride_along,
            "may_manage": ride_alongs_managed_by(user).filter(pk=ride_along.pk).exists(),
        },
    )


@login_required
@require_POST
def ride_along_remove(request: HttpRequest, ride_along_id: int) -> HttpResponse:
    ride_along = ride_alongs_visible_to(request.user).filter(pk=ride_along_id).first()
    if ride_along is None:
        raise Http404("No such ride-along.")
    try:
        ride_along_delete(ride_along=ride_along, by=request.user)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
        return redirect("ride-along", ride_along.pk)
    messages.success(request, "Ride-along deleted; the client visit stays on the timeline.")
    return redirect("ride-alongs")


@login_required
@require_safe
def skills_page(request: HttpRequest, rep_id: int) -> HttpResponse:
    """A person's skills history: per skill, their scores and quarterly average against the team's median."""
    rep = skills_subjects_visible_to(request.user).filter(pk=rep_id).first()
    if rep is None:
        raise Http404("No such person within your reach.")
    history = skills_history(rep, today=timezone.localdate())
    return render(
        request,
        "coaching/skills_history.html",
        {"rep": rep, "history": history, "charts": skill_charts(history)},
    )
