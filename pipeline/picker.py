"""The scope and period picker shared by the board, the deal list and the dashboard.

A pick comes from the query string (``scope``, ``scope_id``, ``period``,
``start``, ``end``), else from the session, else from the user's role. Every id
is checked against what the user may see; a pick outside their reach falls
back to their default, so a hand-made URL never widens what a page shows.

Query string: ``end`` is the last day shown (inclusive), as people read a
date range; the pick's ``Period`` keeps the day after it, ``[start, end)``.
"""

import datetime
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils import timezone

from pipeline.models import Pipeline
from pipeline.periods import CUSTOM, DEFAULT_PRESET, PRESETS, Period
from pipeline.scopes import Scope
from quotas.selectors import territories_visible_to
from salesmgr.models import Role, User
from salesmgr.selectors import is_in_team, team_of
from salesmgr.values import day_in_range, parse_date, parse_int

SESSION_KEY = "picker"
PICKER_PARAMS = ("scope", "scope_id", "period", "start", "end")

KINDS = {
    "me": "Me",
    "team": "Team",
    "rep": "Rep",
    "territory": "Territory",
    "pipeline": "Pipeline",
}
PERIODS = {**{name: PRESETS[name] for name in ("30d", "90d", "qtd", "ytd")}, CUSTOM: "Custom dates"}


@dataclass(frozen=True)
class Pick:
    """What a page shows: a scope and a period, and which of the picker's kinds named the scope."""

    kind: str  # a key of KINDS; "me" and "rep" both name an owner
    scope: Scope
    period: Period

    @property
    def id(self) -> int | None:
        """The picked person, manager, territory or pipeline; None for the whole organisation."""
        scope = self.scope
        named = (scope.owner, scope.team, scope.territory, scope.pipeline)
        return next((pk for pk in named if pk is not None), None)

    @property
    def is_organisation(self) -> bool:
        return self.scope.is_organisation


def _scope_of(kind: str, scope_id: int | None) -> Scope:
    if kind in ("me", "rep"):
        return Scope(owner=scope_id)
    if kind == "team":
        return Scope(team=scope_id)
    if kind == "territory":
        return Scope(territory=scope_id)
    if kind == "pipeline":
        return Scope(pipeline=scope_id)
    raise ValueError(f"Unknown scope kind {kind!r}.")


def _default_scope(user: User) -> tuple[str, int | None]:
    if user.is_admin:
        return "team", None
    if user.is_manager:
        return "team", user.pk
    return "me", user.pk


def _allowed_scope(user: User, kind, raw_id) -> tuple[str, int | None] | None:
    """The (kind, id) ``user`` may pick, or None when the pick is outside their reach."""
    scope_id = parse_int(raw_id, positive=True)
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


def _period_of(preset, start, end, today: datetime.date) -> Period:
    """A valid period from raw values; ``end`` as given is the last day, inclusive."""
    if preset == CUSTOM:
        first, last = parse_date(start), parse_date(end)
        if first and last and first <= last and day_in_range(first) and day_in_range(last):
            return Period.from_days(first, last)
        preset = DEFAULT_PRESET
    return Period.named(preset if preset in PERIODS else DEFAULT_PRESET, today)


def picked(request: HttpRequest) -> Pick:
    """The scope and period this request shows; remembers a valid pick in the session."""
    user = request.user
    today = timezone.localdate()
    remembered = request.session.get(SESSION_KEY) or {}
    params = request.GET
    source = params if any(name in params for name in PICKER_PARAMS) else remembered

    if "scope" in source:
        allowed = _allowed_scope(user, source.get("scope"), source.get("scope_id"))
    elif "scope" in remembered:
        allowed = _allowed_scope(user, remembered.get("scope"), remembered.get("scope_id"))
    else:
        allowed = None
    kind, scope_id = allowed or _default_scope(user)

    timing = source if "period" in source else remembered
    period = _period_of(timing.get("period"), timing.get("start"), timing.get("end"), today)

    choice = Pick(kind=kind, scope=_scope_of(kind, scope_id), period=period)
    to_remember = {"scope": kind, "scope_id": scope_id, "period": period.preset}
    if period.preset == CUSTOM:
        to_remember |= {"start": period.start.isoformat(), "end": period.last_day.isoformat()}
    if remembered != to_remember:
        request.session[SESSION_KEY] = to_remember
    return choice


def picker_options(request: HttpRequest, picked: Pick) -> dict:
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
        }
    }


def scope_label(picked: Pick, options: dict | None = None) -> str:
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
