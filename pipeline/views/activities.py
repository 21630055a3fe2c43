"""Logging an activity from a deal or account page: the quick form both pages share."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from pipeline.forms import ActivityForm, attach_service_errors
from pipeline.services import activity_log


def activity_logged(
    request: HttpRequest,
    *,
    deal,
    account,
    action_url: str,
    full_page: Callable[[ActivityForm], HttpResponse],
    back: tuple,
) -> HttpResponse:
    """Log the posted activity through the service.

    Under HTMX the answer is the new timeline entry (prepended by the page)
    with a fresh form swapped in out of band, or the form with its errors;
    without script it is a redirect back, or the whole page with the errors.
    """
    form = ActivityForm(request.POST)
    activity = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            activity = activity_log(
                by=request.user,
                kind=data["kind"],
                subject=data["subject"],
                body=data["body"],
                occurred_at=data["occurred_at"],
                deal=deal,
                account=account,
            )
        except ValidationError as error:
            attach_service_errors(form, error)
    if request.htmx:
        if activity is None:
            response = render(
                request, "pipeline/_activity_refused.html", {"form": form, "action_url": action_url}
            )
            response["HX-Retarget"] = "#activity-form"
            response["HX-Reswap"] = "outerHTML"
            return response
        context = {
            "activity": activity,
            "form": ActivityForm(initial={"kind": activity.kind}),
            "action_url": action_url,
            "show_deal": deal is None,
        }
        return render(request, "pipeline/_activity_logged.html", context)
    if activity is None:
        return full_page(form)
    messages.success(request, f"{activity.get_kind_display()} logged.")
    return redirect(*back)
