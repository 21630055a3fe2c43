"""The quota planner's grid cells, written out in Python.

An admin's grid at 1,000,000 deals holds 220 people by 12 months: 2,640 cells, each an
in-place form. Through ``{% include "reports/_planner_cell.html" %}`` per cell the page took
1.2-1.7 s, nearly all of it the template engine; these tags write the same markup, byte for
byte (``tests/reports/test_planner_grid.py`` renders both on random grids and compares), in a
few tens of milliseconds. The include templates stay the markup's reference and answer the
single-cell edits (with their errors and out-of-band totals).
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django import template
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

register = template.Library()

CROSSED = (
    "A quota over another period covers part of this one; change it in the upload or the admin."
)


def _e(value) -> str:
    return str(conditional_escape(value))


def _number(value) -> str:
    """A ``Decimal`` as ``{{ value }}`` writes it: its digits need no escaping."""
    return str(value) if isinstance(value, Decimal) else _e(value)


@dataclass(frozen=True)
class _Shared:
    """What every cell of the page repeats, escaped once: the form's address, year and columns."""

    url: str
    can_edit: bool
    year: str
    kind: str
    columns: dict = field(default_factory=dict)

    def column(self, column) -> tuple[str, str]:
        """The column's escaped key and its "label year", once per column."""
        if column.key not in self.columns:
            self.columns[column.key] = (
                _e(column.key),
                f"{_e(column.label)} {_e(column.start.year)}",
            )
        return self.columns[column.key]


def _cell(owner: str, name: str, cell: dict, shared: _Shared) -> str:
    """One cell as ``_planner_cell.html`` writes it with ``oob=False error=None``."""
    key, label = shared.column(cell["column"])
    value = cell["value"]
    if shared.can_edit and cell["editable"]:
        url = shared.url
        body = (
            f'\n    <form hx-post="{url}" hx-target="closest td" hx-swap="outerHTML" '
            f'hx-trigger="change" method="post" action="{url}">\n'
            f'      <input type="hidden" name="owner" value="{owner}">\n'
            f'      <input type="hidden" name="start" value="{key}">\n'
            f'      <input type="hidden" name="year" value="{shared.year}">\n'
            f'      <input type="hidden" name="columns" value="{shared.kind}">\n'
            '      <input class="planner__input" name="target" inputmode="decimal" size="9"\n'
            f'             aria-label="{name}, {label}"\n'
            f'             value="{"" if value is None else _number(value)}"\n'
            "             >\n"
            "      \n"
            "    </form>\n  "
        )
    elif value is not None:
        title = "" if cell["editable"] else f' title="{CROSSED}"'
        body = f"\n    <span{title}>{_e(floatformat(value, '2g'))}</span>\n  "
    else:
        body = "–"
    return f'\n<td id="cell-{owner}-{key}" class="num planner__cell">\n  {body}\n  \n</td>\n\n'


@register.simple_tag(takes_context=True)
def planner_cells(context, row: dict) -> str:
    """Every cell of ``row``, as the grid includes ``_planner_cell.html`` for each."""
    shared = context.get("_planner_shared")
    if shared is None:
        shared = _Shared(
            url=_e(reverse("quota-planner-cell")),
            can_edit=bool(context.get("can_edit")),
            year=_e(context.get("year")),
            kind=_e(context.get("kind")),
        )
        # Kept for the page's other rows (the context's bottom layer lives as long as the render).
        context.dicts[0]["_planner_shared"] = shared
    owner, name = _e(row["owner_id"]), _e(row["name"])
    return mark_safe("".join(_cell(owner, name, cell, shared) for cell in row["cells"]))


def _team_cell(manager: dict, figure: dict) -> str:
    """One team figure as ``_planner_team_cell.html`` writes it with ``oob=False``."""
    basis = _e(figure["basis"])
    title = "Their own quota" if figure["basis"] == "own" else "The roll-up of the team's quotas"
    tag = (
        ' <span class="planner__own-tag">own</span>'
        if figure["basis"] == "own" and not manager["basis_chosen"]
        else ""
    )
    return (
        f'\n<td id="team-{_e(manager["owner_id"])}-{_e(figure["key"])}" '
        f'class="num planner__team planner__team--{basis}" data-basis="{basis}" '
        f'title="{title}">{_e(floatformat(figure["amount"], "2g"))}{tag}</td>\n'
    )


@register.simple_tag
def planner_team_cells(manager: dict) -> str:
    """Every team figure of a manager's row, as the grid includes ``_planner_team_cell.html``."""
    return mark_safe("".join(_team_cell(manager, figure) for figure in manager["team"]))
