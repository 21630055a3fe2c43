"""What the products-sold and lost-reasons reports share: a ``by`` choice read from the query string,
and the names of the reps, teams and territories their rows are grouped by.

A bad ``by`` falls back to the report's default with a note on the page,
never an error: the URL is hand-editable and the page still has an answer.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.http import QueryDict

from quotas.models import Territory
from salesmgr.models import User


@dataclass(frozen=True)
class Breakdown:
    """The ``by`` a report was asked for, checked against its choices (``note`` says why not, if not)."""

    key: str
    label: str
    choices: dict[str, str]
    note: str = ""

    def links(self) -> list[tuple[str, str, bool]]:
        """(query string, label, current) per choice; the picker's own pick rides in the session."""
        return [(f"?by={key}", label, key == self.key) for key, label in self.choices.items()]


def by_option(params: QueryDict) -> dict:
    """The raw ``by`` of the query string, for ``Report.options``."""
    return {"by": params.get("by")} if "by" in params else {}


def breakdown(raw: str | None, choices: dict[str, str]) -> Breakdown:
    """``raw`` if it is one of ``choices`` (the first is the default); else the default and a note."""
    default = next(iter(choices))
    if raw is None or raw == "":
        return Breakdown(default, choices[default], choices)
    if raw in choices:
        return Breakdown(raw, choices[raw], choices)
    allowed = ", ".join(choices)
    note = f"No breakdown by {raw[:40]!r} (by is one of {allowed}): showing by {choices[default].lower()}."
    return Breakdown(default, choices[default], choices, note)


def people_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Each person's shown name by id, in one query."""
    wanted = {pk for pk in ids if pk is not None}
    if not wanted:
        return {}
    people = User.objects.filter(pk__in=wanted).only(
        "username", "full_name", "first_name", "last_name"
    )
    return {person.pk: person.display_name for person in people}


def territory_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Each territory's name by id, in one query."""
    wanted = {pk for pk in ids if pk is not None}
    if not wanted:
        return {}
    return dict(Territory.objects.filter(pk__in=wanted).values_list("pk", "name"))
