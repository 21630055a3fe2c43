"""Browser pages of the reports. Thin: pick the scope, call the runners, render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from pipeline.selectors import open_deal_totals_visible_to
from salesmgr.selectors import team_of


def _greeting(hour: int) -> str:
    if hour < 12:
        return "Good morning"
    if hour < 18:
        return "Good afternoon"
    return "Good evening"


@login_required
def home(request):
    user = request.user
    now = timezone.localtime()
    context = {
        "greeting": _greeting(now.hour),
        "reports_to": user.manager,
        "team_size": team_of(user).count() if user.is_manager else None,
        "open_deals": open_deal_totals_visible_to(user, today=now.date()),
    }
    return render(request, "home.html", context)


@login_required
def dashboard(request):
    return render(request, "home.html", {"greeting": "Dashboard"})
