"""Browser pages that belong to no one app: the home page and the 404 page."""

import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from pipeline.selectors import open_deal_totals_visible_to
from salesmgr.selectors import team_of

API_PREFIX = "/api/"


def _greeting(now: datetime.datetime) -> str:
    if now.hour < 12:
        return "Good morning"
    if now.hour < 18:
        return "Good afternoon"
    return "Good evening"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    now = timezone.localtime()
    context = {
        "greeting": _greeting(now),
        "reports_to": user.manager,
        "team_size": team_of(user).count() if user.is_manager else None,
        "open_deals": open_deal_totals_visible_to(user, today=now.date()),
    }
    return render(request, "home.html", context)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 404 page; an address under the API that matches no endpoint answers JSON, as the API does."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)
