"""The coaching hub: every section of the app as a card, and a short summary of what is coming up.

The site menu's Coaching entry opens the same list; this page is where it
leads without JavaScript. Two queries for the summary, whatever the team's size.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from coaching.sections import sections_for
from coaching.selectors import hub_summary


@login_required
@require_safe
def hub(request: HttpRequest) -> HttpResponse:
    """The sections of the coaching app; for a manager their next one-on-ones and the team's open items."""
    return render(
        request,
        "coaching/hub.html",
        {"sections": sections_for(request.user), **hub_summary(request.user, now=timezone.now())},
    )
