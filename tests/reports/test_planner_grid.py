"""The planner's grid cells written by ``planner_cells`` / ``planner_team_cells`` are the markup
the include templates write, byte for byte, on random grids: every role's view, editable and
crossed cells, empty ones, large and odd amounts, names that need escaping."""

import random
from decimal import Decimal

import pytest
from django.template import Context, Template

from reports.runners.planner import year_columns

INCLUDED = Template(
    "{% for row in rows %}"
    '{% for cell in row.cells %}{% include "reports/_planner_cell.html" with oob=False error=None %}'
    "{% endfor %}"
    "{% if row.team is not None %}"
    '{% for figure in row.team %}{% include "reports/_planner_team_cell.html" with manager=row oob=False %}'
    "{% endfor %}{% endif %}"
    "{% endfor %}"
)
TAGGED = Template(
    "{% load planner_grid %}{% for row in rows %}{% planner_cells row %}"
    "{% if row.team is not None %}{% planner_team_cells row %}{% endif %}{% endfor %}"
)
NAMES = ["Ann Lee", "O'Brien & <Sons>", 'Zoë "Z" Ünal', "x"]


def _amount(rng: random.Random) -> Decimal | None:
    return rng.choice(
        [None, Decimal("0.00"), Decimal("0.10"), Decimal(rng.randrange(0, 10**9)) / 100]
    )


def _rows(rng: random.Random, kind: str) -> list[dict]:
    columns = year_columns(rng.choice([2025, 2026]), kind)
    rows = []
    for pk in range(1, 30):
        row = {
            "owner_id": pk,
            "name": rng.choice(NAMES),
            "cells": [
                {"column": column, "value": _amount(rng), "editable": rng.random() > 0.2}
                for column in columns
            ],
            "team": None,
        }
        if rng.random() < 0.3:
            row["basis_chosen"] = rng.random() < 0.5
            row["team"] = [
                {
                    "key": column.key,
                    "amount": _amount(rng) or Decimal("0.00"),
                    "basis": rng.choice(["own", "rollup"]),
                }
                for column in columns
            ]
        rows.append(row)
    return rows


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("can_edit", [True, False])
@pytest.mark.parametrize("kind", ["month", "quarter"])
def test_the_tags_write_what_the_include_templates_write(seed, can_edit, kind):
    rng = random.Random(seed)
    context = {"rows": _rows(rng, kind), "can_edit": can_edit, "year": 2026, "kind": kind}
    expected = INCLUDED.render(Context(context))
    assert "planner__cell" in expected
    assert TAGGED.render(Context(context)) == expected


def test_the_grid_page_writes_its_cells_through_the_tags(client, admin, rep):
    client.force_login(admin)
    html = client.get("/quotas/planner/?year=2026&columns=month").content.decode()
    assert html.count(f'<td id="cell-{rep.pk}-') == 12
    assert f'<td id="cell-{rep.pk}-2026-01-01" class="num planner__cell">' in html
