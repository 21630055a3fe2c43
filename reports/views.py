"""Browser pages of the reports: the home page and the manager dashboard.

Thin: pick the scope (always through ``scope_for``), call the runners, shape
the answers for templates and charts. Each page issues a fixed number of
queries whatever the number of deals or people.
"""

import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from pipeline.money import reporting_currency, unconverted_notice
from pipeline.periods import CUSTOM, Period
from pipeline.picker import PERIODS, Pick, picked, picker_options, scope_label
from pipeline.scopes import Scope, scope_for
from pipeline.selectors import open_deal_totals_visible_to
from reports import charts
from reports.forecasts import HORIZONS
from reports.runners import (
    AccuracyRunner,
    AttentionRunner,
    DashboardListsRunner,
    ForecastRunner,
    FunnelRunner,
    GapRunner,
    LeaderboardRunner,
    OverdueDealsRunner,
    PipelineByStageRunner,
    PreviousTotalsRunner,
    RecentActivityRunner,
    StalledDealsRunner,
    quota_attainment,
    rotting_stages,
)
from reports.runners.gap import GAP_PERIODS, PROJECTIONS
from reports.selectors import scope_stale
from reports.services import RefreshUnavailable, refresh_queue, refresh_state
from reports.tasks import recompute_ring
from salesmgr.home import registered_home_panels
from salesmgr.models import User
from salesmgr.selectors import team_of

ACCURACY_HORIZON = 30
ACCURACY_DAYS = 365
REFRESHED_EVENT = "figures-refreshed"
STALE_POLL_SECONDS = 2


def _greeting(hour: int) -> str:
    if hour < 12:
        return "Good morning"
    if hour < 18:
        return "Good afternoon"
    return "Good evening"


def _pick_query(pick: Pick) -> str:
    """The query string that names this pick, for the page's own follow-up requests."""
    period = pick.period
    params = {"scope": pick.kind, "period": period.preset}
    if pick.id is not None:
        params["scope_id"] = pick.id
    if period.preset == CUSTOM:
        params |= {"start": period.start.isoformat(), "end": period.last_day.isoformat()}
    return urlencode(params)


def _home_scope(user: User) -> Scope:
    return scope_for(user, Scope(owner=user.pk) if user.is_rep else Scope())


# Home.


@login_required
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The greeting and a summary; the heavier blocks load next, from ``home_panels``."""
    user = request.user
    now = timezone.localtime()
    context = {
        "greeting": _greeting(now.hour),
        "reports_to": user.manager,
        "team_size": team_of(user).count() if user.is_manager else None,
        "open_deals": open_deal_totals_visible_to(user, today=now.date()),
        "extra_panels": [reverse(name) for name in registered_home_panels()],
    }
    return render(request, "home.html", context)


@login_required
@require_safe
def home_panels(request: HttpRequest) -> HttpResponse:
    """A rep's own pipeline, quota, deals needing attention and recent activity; a manager's team at a glance.

    Loaded into the home page by HTMX; without it the address is a page of its own.
    """
    user = request.user
    now = timezone.now()
    today = timezone.localdate(now)
    scope = _home_scope(user)
    if user.is_rep:
        month, quarter = Period.named("month", today), Period.named("quarter", today)
        stages = PipelineByStageRunner(scope).run()
        attainment = quota_attainment(
            scope.quota_owner_filter(), {"month": month, "quarter": quarter}
        ).get(user.pk)
        context = {
            "stages": stages,
            "stage_totals": {
                "deals": sum(row["deals"] for row in stages),
                "value": sum((row["value"] or Decimal("0") for row in stages), Decimal("0")),
            },
            "pipeline_chart": charts.pipeline_by_stage_chart("chart-my-pipeline", stages)
            if stages
            else None,
            "month": month,
            "quarter": quarter,
            "attainment": attainment,
            "attention": AttentionRunner(scope, now).run(),
            "recent": RecentActivityRunner(user, now).run(),
        }
        template = "reports/_home_rep.html"
    else:
        stages = rotting_stages()
        context = {
            "scope_name": "the whole organisation" if user.is_admin else "your team",
            "leaderboard": LeaderboardRunner(scope, today, limit=5).run(),
            "stalled": StalledDealsRunner(scope, today, limit=5).run(stages),
            "overdue": OverdueDealsRunner(scope, today, limit=5).run(),
        }
        template = "reports/_home_manager.html"
    context["today"] = today
    if request.htmx:
        return render(request, template, context)
    return render(request, "reports/home_panels.html", {**context, "panels_template": template})


# Dashboard.


def _require_dashboard_user(user: User) -> None:
    """The dashboard is for managers and admins: a rep has no such page."""
    if user.is_rep:
        raise Http404("No such page.")


def _change(current, previous, kind: str) -> dict:
    """How a figure moved against the previous period, in words a tile shows."""
    if current is None or previous is None:
        return {"direction": "none", "text": "no earlier figure" if previous is None else "n/a"}
    current, previous = Decimal(str(current)), Decimal(str(previous))
    difference = current - previous
    direction = "up" if difference > 0 else "down" if difference < 0 else "same"
    if kind == "ratio":
        text = f"{difference * 100:+.0f} pts"
    elif kind == "days":
        text = f"{difference:+.1f} days"
    else:
        text = f"{difference:+,.0f}"
    if kind != "ratio" and previous:
        text += f" ({difference / previous:+.0%})"
    return {"direction": direction, "text": text, "difference": difference}


KPIS = (
    # name, label, kind, higher is better
    ("open_deals", "Open deals", "count", True),
    ("open_value", "Open value", "money", True),
    ("avg_won_deal_size", "Average won deal", "money", True),
    ("close_ratio", "Close ratio", "ratio", True),
    ("sales_velocity", "Sales velocity per day", "money", True),
    ("avg_sales_cycle_days", "Sales cycle", "days", False),
)
UNITS = {"days": "days"}


def _display(value, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "ratio":
        return f"{value:.0%}"
    if kind == "days":
        return f"{value:.1f}"
    amount = Decimal(value)
    # A tile is narrow: from ten million on, money reads better in millions or billions.
    if abs(amount) >= 10**9:
        return f"{amount / 10**9:,.1f} bn"
    if abs(amount) >= 10**7:
        return f"{amount / 10**6:,.1f} M"
    return f"{amount:,.0f}"


def _unit(value, kind: str) -> str:
    return UNITS.get(kind, "") if value is not None else ""


def kpi_tiles(current: dict, previous: dict | None) -> list[dict]:
    """The headline figures, each with its change against the previous period (``previous`` None: not yet known)."""
    tiles = []
    for name, label, kind, higher_is_better in KPIS:
        value = current.get(name)
        tile = {
            "name": name,
            "label": label,
            "value": value,
            "display": _display(value, kind),
            "unit": _unit(value, kind),
            "previous_display": "",
            "change": {"direction": "pending", "text": "comparing…"},
            "good": None,
        }
        if previous is not None:
            before = previous.get(name)
            change = _change(value, before, kind)
            tile["change"] = change
            tile["previous_display"] = f"{_display(before, kind)} {_unit(before, kind)}".strip()
            if change["direction"] in ("up", "down"):
                tile["good"] = (change["direction"] == "up") == higher_is_better
        tiles.append(tile)
    return tiles


def kpi_figures(scope: Scope, period: Period, *, compare: bool, funnel: dict | None = None) -> dict:
    """The headline figures; their changes too when ``compare`` or when the previous period's are at hand.

    The previous period's figures come from its snapshot or the cache; computing
    them from the history is heavy, so the page asks for them in a second
    request (``fragment=kpis``) rather than wait.
    """
    funnel = funnel if funnel is not None else FunnelRunner(scope, period).totals()
    runner = PreviousTotalsRunner(scope, period)
    previous = runner.run() if compare else runner.stored()
    return {
        "funnel": funnel,
        "previous": previous,
        "previous_period": runner.previous,
        "previous_last_day": runner.previous.last_day,
        "kpis": kpi_tiles(funnel, previous),
        "compare_pending": previous is None,
    }


def unconverted_notices(funnel: dict, forecasts: list[dict]) -> list[str]:
    """What the funnel and the forecasts left out for want of an exchange rate, in words (none: empty).

    The longest horizon's forecast covers the shorter ones' deals, so it speaks for all.
    """
    notices = []
    funnel_notice = unconverted_notice(funnel.get("unconverted") or [])
    if funnel_notice:
        notices.append(f"Funnel: {funnel_notice}")
    longest = max(forecasts, key=lambda f: f["horizon"], default=None)
    forecast_notice = unconverted_notice((longest or {}).get("unconverted") or [])
    if forecast_notice:
        notices.append(f"Forecasts: {forecast_notice}")
    return notices


def dashboard_figures(scope: Scope, period: Period, today: datetime.date) -> dict:
    """Every figure of the dashboard for one scope and period, with its charts."""
    funnel = FunnelRunner(scope, period).run()
    forecasts = ForecastRunner(scope, today, HORIZONS).run()
    from_snapshot = funnel["source"] == "snapshot"
    lists = DashboardListsRunner(
        scope, period, today, funnel["computed_at"] if from_snapshot else None
    ).run()
    series = lists["series"]
    accuracy = AccuracyRunner(scope, start=today - datetime.timedelta(days=ACCURACY_DAYS)).run()
    accuracy_rows = [row for row in accuracy["snapshots"] if row["horizon"] == ACCURACY_HORIZON]
    # The chart draws every day; its table lists one forecast a week, counted back from the latest.
    latest = accuracy_rows[-1]["as_of"] if accuracy_rows else today
    accuracy_weekly = [row for row in accuracy_rows if (latest - row["as_of"]).days % 7 == 0]
    pipelines: dict[int, dict] = {}
    for stage in funnel["stages"]:
        pipelines.setdefault(stage["pipeline"], {"name": stage["pipeline_name"], "stages": []})[
            "stages"
        ].append(stage)
    funnels = [
        {
            "name": p["name"],
            "stages": p["stages"],
            "chart": charts.funnel_chart(f"chart-funnel-{pk}", p["name"], p["stages"]),
        }
        for pk, p in pipelines.items()
        if scope.pipeline is not None or any(s["entered"] or s["open_now"] for s in p["stages"])
    ]
    sources = {funnel["source"], *(f["source"] for f in forecasts)}
    stale = funnel["stale"] or any(f["stale"] for f in forecasts)
    computed = [funnel["computed_at"], *(f["computed_at"] for f in forecasts)]
    return {
        **kpi_figures(scope, period, compare=False, funnel=funnel),
        "funnels": funnels,
        "forecasts": forecasts,
        "forecast_chart": charts.forecast_chart("chart-forecast", forecasts),
        "series": series,
        "series_chart": charts.won_by_month_chart("chart-won-by-month", series),
        "accuracy": accuracy,
        "accuracy_rows": accuracy_rows,
        "accuracy_weekly": accuracy_weekly,
        "accuracy_horizon": ACCURACY_HORIZON,
        "accuracy_chart": (
            charts.accuracy_chart("chart-accuracy", accuracy_rows, ACCURACY_HORIZON)
            if accuracy_rows
            else None
        ),
        "mape_chart": charts.mape_chart("chart-mape", accuracy["summary"])
        if accuracy["summary"]
        else None,
        "calibration_chart": charts.calibration_chart("chart-calibration", accuracy["summary"])
        if accuracy["summary"]
        else None,
        "leaderboard": LeaderboardRunner(scope, today).run(),
        "stalled": lists["stalled"],
        "overdue": lists["overdue"],
        "reporting_currency": reporting_currency(),
        "unconverted_notices": unconverted_notices(funnel, forecasts),
        "all_live": sources == {"live"},
        "oldest_computed_at": min(computed),
        "snapshot_sources": sorted(sources),
        "stale": stale,
        "stale_poll_seconds": STALE_POLL_SECONDS,
    }


@login_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    """The manager dashboard for the picked scope and period.

    ``fragment=figures`` answers the figures only (after a refresh) and
    ``fragment=kpis`` the headline figures with their changes.
    """
    user = request.user
    _require_dashboard_user(user)
    pick = picked(request)
    scope = scope_for(user, pick.scope)
    today = timezone.localdate()
    period = pick.period
    context = {
        "pick": pick,
        "pick_query": _pick_query(pick),
        "scope": scope,
        "period_label": PERIODS.get(pick.period.preset, ""),
    }
    fragment = request.GET.get("fragment") if request.htmx else None
    if fragment == "kpis":
        return render(
            request,
            "reports/_dashboard_kpis.html",
            {**context, **kpi_figures(scope, period, compare=True)},
        )
    context |= dashboard_figures(scope, period, today)
    if fragment == "figures":
        return render(request, "reports/_dashboard_figures.html", context)
    options = picker_options(request, pick)
    context |= {**options, "scope_label": scope_label(pick, options)}
    return render(request, "reports/dashboard.html", context)


@login_required
@require_safe
def dashboard_status(request: HttpRequest) -> HttpResponse:
    """Whether the picked scope's figures are still stale (one query); a page showing stale figures polls it.

    While they are it rings for the recompute (a burst of rings is one); once
    the recompute has landed the answer tells the page to reload its figures.
    """
    user = request.user
    _require_dashboard_user(user)
    pick = picked(request)
    scope = scope_for(user, pick.scope)
    stale = scope_stale(scope)
    if stale:
        recompute_ring()
    context = {
        "stale": stale,
        "pick_query": _pick_query(pick),
        "stale_poll_seconds": STALE_POLL_SECONDS,
    }
    response = render(request, "reports/_stale_status.html", context)
    if not stale:
        response["HX-Trigger"] = REFRESHED_EVENT
    return response


@login_required
@require_POST
def dashboard_refresh(request: HttpRequest) -> HttpResponse:
    """Queue a recompute of the picked scope's snapshots, as the API's refresh does."""
    user = request.user
    _require_dashboard_user(user)
    pick = picked(request)
    scope = scope_for(user, pick.scope)
    back = f"{reverse('dashboard')}?{_pick_query(pick)}"
    try:
        task_id = refresh_queue(user=user, scope=scope)
        state = refresh_state(user=user, task_id=task_id) if request.htmx else None
    except RefreshUnavailable as error:
        return _refresh_unavailable(request, error, back)
    if not request.htmx:
        messages.info(request, "The figures are being recomputed; reload this page in a moment.")
        return redirect(back)
    return _refresh_status(request, state)


@login_required
@require_safe
def dashboard_refresh_status(request: HttpRequest, task_id: str) -> HttpResponse:
    """The state of a recompute this user queued; HTMX polls it every second until it is done."""
    _require_dashboard_user(request.user)
    try:
        state = refresh_state(user=request.user, task_id=task_id)
    except RefreshUnavailable as error:
        return _refresh_unavailable(request, error, reverse("dashboard"))
    if state is None:
        raise Http404("No such task.")
    return _refresh_status(request, state)


def _refresh_unavailable(
    request: HttpRequest, error: RefreshUnavailable, back: str
) -> HttpResponse:
    """Say the figures cannot be recomputed now; the page keeps showing what it has."""
    if not request.htmx:
        messages.error(request, str(error))
        return redirect(back)
    return render(request, "reports/_refresh_status.html", {"unavailable": str(error)})


def _refresh_status(request: HttpRequest, state) -> HttpResponse:
    context = {
        "state": state,
        "status_url": reverse("dashboard-refresh-status", args=[state.task_id]),
        "finished_at": timezone.localtime(),
        "poll_minutes": max(1, round(settings.REFRESH_POLL_TIMEOUT_SECONDS / 60)),
    }
    response = render(request, "reports/_refresh_status.html", context)
    if state.state == "SUCCESS":
        response["HX-Trigger"] = REFRESHED_EVENT
    return response


# The gap page.

PROJECTION_LABELS = {
    "commit": "Commit",
    "best_case": "Best case",
    "model": "Model forecast",
    "model_p10": "Model P10",
    "model_p90": "Model P90",
}


@login_required
@require_safe
def gap(request: HttpRequest) -> HttpResponse:
    """What the picked scope must still win this month, quarter or year, against its projections.

    Reps see their own; managers their team (each rep's row links to that rep's
    own page), a rep of it, or a territory; admins anyone.
    """
    user = request.user
    pick = picked(request)
    scope = scope_for(user, pick.scope)
    span = request.GET.get("span")
    span = span if span in GAP_PERIODS else "month"
    figures = GapRunner(scope, span, timezone.localdate()).run()
    options = picker_options(request, pick)
    context = {
        "pick": pick,
        "scope": scope,
        "span": span,
        "spans": list(GAP_PERIODS.items()),
        "span_label": GAP_PERIODS[span],
        "gap": figures,
        "projections": [
            {
                "name": name,
                "label": PROJECTION_LABELS[name],
                "value": figures[name],
                "gap": figures["gap"][name],
            }
            for name in PROJECTIONS
        ],
        "chart": charts.gap_chart("chart-gap", figures),
        "rep_link": f"{reverse('gap')}?{urlencode({'scope': 'rep', 'span': span})}&scope_id=",
        **options,
        "scope_label": scope_label(pick, options) if not user.is_rep else "My deals",
    }
    return render(request, "reports/gap.html", context)
