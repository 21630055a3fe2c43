"""The weekly digest pages: a person's own schedule (and, for a manager or an admin, their team's), and a
preview of their next digest exactly as the e-mail will carry it, in HTML and in plain text."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from coaching.digests import (
    Schedule,
    digest_preference_of,
    digest_render,
    team_digest_preferences,
)
from coaching.forms_digests import DigestPreferenceForm
from coaching.models import DigestSend, Weekday
from coaching.services import digest_preference_save
from pipeline.forms import attach_service_errors


def _schedule(user, now, preference) -> dict:
    schedule = Schedule.of(preference)
    week = schedule.week_of(now)
    sent = set(
        DigestSend.objects.filter(person_id=user.pk, week=week).values_list("week", flat=True)
    )
    moment = schedule.next_moment(now, sent)
    return {
        "schedule": schedule,
        "weekday_label": Weekday(schedule.weekday).label,
        "next_moment": moment,
        "next_is_past": moment is not None and moment <= now,
        "sent_this_week": bool(sent),
    }


@login_required
@require_safe
def preview(request: HttpRequest) -> HttpResponse:
    """The next digest of the person signed in, as it stands now, and when it goes out."""
    now = timezone.now()
    return render(
        request,
        "coaching/digest_preview.html",
        {
            "digest": digest_render(request.user, now),
            **_schedule(request.user, now, digest_preference_of(request.user)),
        },
    )


@login_required
@require_safe
def preview_html(request: HttpRequest) -> HttpResponse:
    """The HTML part of the person's next digest, byte for byte."""
    return HttpResponse(digest_render(request.user, timezone.now()).html)


@login_required
@require_safe
def preview_text(request: HttpRequest) -> HttpResponse:
    """The plain-text part of the person's next digest."""
    return HttpResponse(
        digest_render(request.user, timezone.now()).text, content_type="text/plain; charset=utf-8"
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def digest_settings(request: HttpRequest) -> HttpResponse:
    """A person sets their own day and hour; a manager sees their team's, an admin everyone's."""
    user = request.user
    status = 200
    preference = digest_preference_of(user)
    if request.method == "POST":
        form = DigestPreferenceForm(request.POST)
        if form.is_valid():
            try:
                digest_preference_save(person=user, **form.cleaned_data)
            except ValidationError as error:
                attach_service_errors(form, error)
            else:
                messages.success(request, "Your digest settings are saved.")
                return redirect("digest-settings")
        status = 400
    else:
        schedule = Schedule.of(preference)
        form = DigestPreferenceForm(
            initial={
                "enabled": schedule.enabled,
                "weekday": schedule.weekday,
                "hour": schedule.hour,
                "time_zone": preference.time_zone if preference else "",
            }
        )
    return render(
        request,
        "coaching/digest_settings.html",
        {
            "form": form,
            "team": team_digest_preferences(user),
            "weekdays": dict(Weekday.choices),
            **_schedule(user, timezone.now(), preference),
        },
        status=status,
    )
