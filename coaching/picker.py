"""The team picker of the coaching pages (the one-on-ones list, the insights).

It fills ``partials/picker_scope.html`` with one kind, a team: an admin picks
the whole organisation or any manager's team, a manager their own team or a
team below them. Reps get no picker. As in ``pipeline.picker``, a pick outside
the user's reach (or not a number) falls back to their default, so a
hand-made URL never widens what a page shows. One query: the managers.
"""

from dataclasses import dataclass

from django.http import HttpRequest

from salesmgr.models import Role, User
from salesmgr.selectors import team_of
from salesmgr.values import parse_int


@dataclass(frozen=True)
class PickedTeam:
    kind: str
    id: int | None  # a manager; None: the whole organisation (admins)


def team_pick(request: HttpRequest) -> tuple[int | None, dict]:
    """The manager whose team ``request`` shows (None: everyone the user may see) and the picker's context."""
    user = request.user
    if user.is_rep:
        return None, {"show_team_picker": False}
    if user.is_admin:
        managers = User.objects.filter(role=Role.MANAGER)
        choices = [(None, "Whole organisation")]
        default = None
    else:
        managers = team_of(user).filter(role=Role.MANAGER)
        choices = [(user.pk, "My team")]
        default = user.pk
    choices += [
        (person.pk, f"Team of {person.display_name}")
        for person in managers.only("pk", "username", "full_name", "first_name", "last_name")
        .filter(is_active=True)
        .order_by("full_name", "username")
    ]
    raw = request.GET.get("scope_id")
    wanted = parse_int(raw, positive=True) if raw else default
    team = wanted if wanted in {pk for pk, _ in choices} else default
    hidden = [
        (name, value)
        for name, values in request.GET.lists()
        if name not in ("scope", "scope_id", "rep", "wins_page")
        for value in values
    ]
    return team, {
        "show_team_picker": True,
        "picker": {
            "picked": PickedTeam("team", team),
            "kinds": [("team", "Team")],
            "which": [("team", choices)],
            "hidden": hidden,
        },
    }
