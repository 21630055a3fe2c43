"""The insights page: a rep against their team, one chart per metric, and the stage to coach next.

Thin: pick the rep (through ``insight_reps_visible_to``) and the period, call
``coaching.insights``, shape the charts. A fixed number of queries whatever
the team's size.
"""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import EmptyPage, Paginator
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from coaching.charts_insights import metric_charts, stage_charts
from coaching.insights import SCALARS, insight_reps_visible_to, insights
from coaching.picker import team_pick
from coaching.wins import wins_visible_to
from pipeline.money import reporting_currency
from pipeline.periods import DEFAULT_PRESET, PRESETS, Period
from pipeline.scopes import Scope
from salesmgr.selectors import team_member_ids_subquery
from salesmgr.values import parse_int

PERIODS = {name: PRESETS[name] for name in ("30d", "90d", "qtd", "ytd", "month", "quarter")}
WINS_PER_PAGE = 10


def _display(value, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "ratio":
        return f"{value:.0%}"
    if kind == "days":
        return f"{value:.1f} days"
    if kind == "times":
        return f"{value:.2f}×"
    return f"{value:,.0f}"


def _rows(figures: dict) -> list[dict]:
    """The side-by-side table: each scalar figure as text, rep beside team."""
    kinds = {name: kind for name, _, kind, _ in SCALARS}
    rows = []
    for metric in figures["metrics"]:
        kind, team = kinds[metric["name"]], metric["team"]
        rows.append(
            {
                "name": metric["name"],
                "label": metric["label"],
                "rep": _display(metric["rep"], kind),
                "median": _display(team["median"], kind),
                "iqr": "n/a"
                if team["median"] is None
                else f"{_display(team['q1'], kind)} – {_display(team['q3'], kind)}",
                "reps": team["reps"],
            }
        )
    return rows


@login_required
@require_safe
def insights_page(request: HttpRequest) -> HttpResponse:
    """Insights of the picked rep: a rep sees their own, a manager any rep of their team, an admin any rep."""
    user = request.user
    raw_rep, raw_period = request.GET.get("rep"), request.GET.get("period") or DEFAULT_PRESET
    team_id, picker = team_pick(request)
    within_reach = insight_reps_visible_to(user)
    if team_id is not None and not user.is_rep:
        # The picked team's reps, and the rep asked for (within reach) to be told apart from them.
        in_team = Q(pk__in=team_member_ids_subquery(team_id))
        asked = parse_int(raw_rep, positive=True) if raw_rep else None
        within_reach = within_reach.annotate(
            in_team=ExpressionWrapper(in_team, output_field=BooleanField())
        ).filter(in_team | Q(pk=asked or 0))
    everyone = list(within_reach.order_by("full_name", "username"))
    reps = [person for person in everyone if getattr(person, "in_team", True)]
    if raw_period not in PERIODS:
        return HttpResponseBadRequest(f"period: choose one of {', '.join(PERIODS)}.")
    wins_page = parse_int(request.GET.get("wins_page", "1"), positive=True)
    if wins_page is None:
        return HttpResponseBadRequest("wins_page: give a page number from 1.")
    if raw_rep is None:
        rep = next((person for person in reps if person.pk == user.pk), reps[0] if reps else None)
    else:
        rep_id = parse_int(raw_rep, positive=True)
        if rep_id is None:
            return HttpResponseBadRequest("rep: give the id of a rep.")
        rep = next((person for person in everyone if person.pk == rep_id), None)
        if rep is None:
            raise Http404("No such rep within your reach.")
        if rep not in reps:  # a rep of another team than the one picked: the team's first
            rep = reps[0] if reps else None
    today = timezone.localdate()
    context = {
        "reps": reps,
        "rep": rep,
        "periods": list(PERIODS.items()),
        "period_name": raw_period,
        "show_picker": not user.is_rep,
        **picker,
        "currency": reporting_currency(),
    }
    if rep is not None:
        period = Period.named(raw_period, today)
        figures = insights(rep, period, today)
        team = Scope(team=rep.manager_id) if rep.manager_id is not None else Scope()
        try:
            wins = Paginator(wins_visible_to(user, team), WINS_PER_PAGE).page(wins_page)
        except EmptyPage as error:
            raise Http404("No such page of wins.") from error
        context |= {
            "wins": wins,
            "wins_query": urlencode(
                {"rep": rep.pk, "period": raw_period}
                | ({"scope": "team", "scope_id": team_id} if team_id is not None else {})
            ),
            "figures": figures,
            "period": period,
            "rows": _rows(figures),
            "stage_charts": stage_charts(figures),
            "charts": metric_charts(figures),
        }
    return render(request, "coaching/insights.html", context)
