"""The scope and period picker shared by the board, the deal list and the dashboard.

A pick comes from the query string (``scope``, ``scope_id``, ``period``,
``start``, ``end``), else from the session, else from the user's role. Every id
is checked against what the user may see; a pick outside their reach falls
back to their default, so a hand-made URL never widens what a page shows.

Query string: ``end`` is the last day shown (inclusive), as people read a
date range; ``Picked.end`` is the day after it, so the period is
``[start, end)`` for queries.
"""

import datetime
from dataclasses import asdict, dataclass

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from pipeline.models import Pipeline
from quotas.selectors import territories_visible_to, territory_subtree_ids_subquery
from salesmgr.models import Role, User
from salesmgr.selectors import is_in_team, team_member_ids_subquery, team_of

SESSION_KEY = "picker"
PICKER_PARAMS = ("scope", "scope_id", "period", "start", "end")

KINDS = {
    "me": "Me",
    "team": "Team",
    "rep": "Rep",
    "territory": "Territory",
    "pipeline": "Pipeline",
}
PERIODS = {
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "qtd": "Quarter to date",
    "ytd": "Year to date",
    "custom": "Custom dates",
}
DEFAULT_PERIOD = "90d"


@dataclass(frozen=True)
class Picked:
    kind: str  # "me", "team", "rep", "territory", "pipeline"
    id: int | None  # team: the manager's id, None for the whole organisation (admins)
    start: datetime.date  # the period is [start, end)
    end: datetime.date
    period: str  # "30d", "90d", "qtd", "ytd", "custom"

    @property
    def last_day(self) -> datetime.date:
        """The period's last day, as shown to people."""
        return self.end - datetime.timedelta(days=1)

    @property
    def is_organisation(self) -> bool:
        return self.kind == "team" and self.id is None


def period_bounds(period: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """``[start, end)`` of a preset period ending today."""
    end = today + datetime.timedelta(days=1)
    if period == "30d":
        return end - datetime.timedelta(days=30), end
    if period == "qtd":
        return today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1), end
    if period == "ytd":
        return today.replace(month=1, day=1), end
    return end - datetime.timedelta(days=90), end


def _default_scope(user: User) -> tuple[str, int | None]:
    if user.is_admin:
        return "team", None
    if user.is_manager:
        return "team", user.pk
    return "me", user.pk


def _as_int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _as_date(value) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        return None


def _allowed_scope(user: User, kind, raw_id) -> tuple[str, int | None] | None:
    """The (kind, id) ``user`` may pick, or None when the pick is outside their reach."""
    scope_id = _as_int(raw_id)
    if kind == "me":
        return "me", user.pk
    if user.is_rep:
        return None
    if kind == "team":
        if user.is_admin:
            if scope_id is None:
                return "team", None
            manager_exists = User.objects.filter(pk=scope_id, role=Role.MANAGER).exists()
            return ("team", scope_id) if manager_exists else None
        if scope_id in (None, user.pk):
            return "team", user.pk
        in_team = team_of(user).filter(pk=scope_id, role=Role.MANAGER).exists()
        return ("team", scope_id) if in_team else None
    if scope_id is None:
        return None
    if kind == "rep":
        if user.is_admin:
            return ("rep", scope_id) if User.objects.filter(pk=scope_id).exists() else None
        if scope_id == user.pk:
            return "me", user.pk
        return ("rep", scope_id) if is_in_team(manager=user, user_id=scope_id) else None
    if kind == "territory":
        exists = territories_visible_to(user).filter(pk=scope_id).exists()
        return ("territory", scope_id) if exists else None
    if kind == "pipeline":
        return ("pipeline", scope_id) if Pipeline.objects.filter(pk=scope_id).exists() else None
    return None


def _period_of(
    period, start, end, today: datetime.date
) -> tuple[str, datetime.date, datetime.date]:
    """A valid (period, start, end) from raw values; ``end`` as given is the last day, inclusive."""
    if period == "custom":
        first, last = _as_date(start), _as_date(end)
        if first and last and first <= last < datetime.date.max:
            return "custom", first, last + datetime.timedelta(days=1)
        period = DEFAULT_PERIOD
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    return (period, *period_bounds(period, today))


def picked(request: HttpRequest) -> Picked:
    """The scope and period this request shows; remembers a valid pick in the session."""
    user = request.user
    today = timezone.localdate()
    remembered = request.session.get(SESSION_KEY) or {}
    params = request.GET
    source = params if any(name in params for name in PICKER_PARAMS) else remembered

    if "scope" in source:
        scope = _allowed_scope(user, source.get("scope"), source.get("scope_id"))
    elif "scope" in remembered:
        scope = _allowed_scope(user, remembered.get("scope"), remembered.get("scope_id"))
    else:
        scope = None
    kind, scope_id = scope or _default_scope(user)

    timing = source if "period" in source else remembered
    period, start, end = _period_of(
        timing.get("period"), timing.get("start"), timing.get("end"), today
    )

    choice = Picked(kind=kind, id=scope_id, start=start, end=end, period=period)
    to_remember = {"scope": kind, "scope_id": scope_id, "period": period}
    if period == "custom":
        to_remember |= {"start": start.isoformat(), "end": choice.last_day.isoformat()}
    if remembered != to_remember:
        request.session[SESSION_KEY] = to_remember
    return choice


def picker_options(request: HttpRequest, picked: Picked) -> dict:
    """The context ``partials/picker.html`` renders: the choices this user has, one query each.

    Query-string parameters that are not the picker's (a page's own filters)
    ride along as hidden fields so that changing the scope keeps them.
    """
    user = request.user
    kinds = ["me"] if user.is_rep else list(KINDS)
    people, teams, territories, pipelines = [], [], [], []
    if not user.is_rep:
        if user.is_admin:
            visible_people = User.objects.filter(is_active=True)
            teams.append((None, "Whole organisation"))
        else:
            visible_people = team_of(user)
            teams.append((user.pk, "My team"))
        for person in visible_people.only(
            "pk", "username", "full_name", "first_name", "last_name", "role"
        ):
            if person.role == Role.MANAGER and person.pk != user.pk:
                teams.append((person.pk, f"Team of {person.display_name}"))
            if person.pk != user.pk:
                people.append((person.pk, person.display_name))
        territories = list(territories_visible_to(user).values_list("pk", "name"))
        pipelines = list(Pipeline.objects.values_list("pk", "name"))
    which = {"team": teams, "rep": people, "territory": territories, "pipeline": pipelines}
    hidden = [
        (name, value)
        for name, values in request.GET.lists()
        if name not in PICKER_PARAMS and name not in ("page", "cursor")
        for value in values
    ]
    return {
        "picker": {
            "picked": picked,
            "kinds": [(kind, "Me" if kind == "me" else KINDS[kind]) for kind in kinds],
            "which": [(kind, which[kind]) for kind in kinds if kind in which],
            "periods": list(PERIODS.items()),
            "hidden": hidden,
            "current": asdict(picked),
        }
    }


def deal_scope_filter(picked: Picked, prefix: str = "") -> Q:
    """The condition on deal rows for a pick (``prefix`` reaches deals from another model).

    ``team`` is everyone below the manager, as ``DealFilter.team`` and the
    reports' ``Scope.team`` read it; the whole organisation is no condition.
    """
    if picked.kind in ("me", "rep"):
        return Q(**{f"{prefix}owner_id": picked.id})
    if picked.kind == "team":
        if picked.id is None:
            return Q()
        return Q(**{f"{prefix}owner_id__in": team_member_ids_subquery(picked.id)})
    if picked.kind == "territory":
        return Q(
            **{f"{prefix}account__territory_id__in": territory_subtree_ids_subquery(picked.id)}
        )
    if picked.kind == "pipeline":
        return Q(**{f"{prefix}pipeline_id": picked.id})
    raise ValueError(f"Unknown scope kind {picked.kind!r}")


def scope_label(picked: Picked, options: dict | None = None) -> str:
    """A short human label of the pick, e.g. "My team" or "Territory: EMEA"."""
    if picked.kind == "me":
        return "My deals"
    if picked.is_organisation:
        return "Whole organisation"
    if options:
        for kind, choices in options["picker"]["which"]:
            if kind == picked.kind:
                for value, label in choices:
                    if value == picked.id:
                        return label if kind == "team" else f"{KINDS[kind]}: {label}"
    return KINDS[picked.kind]
