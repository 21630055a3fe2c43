"""The team-wide sums of open pipeline read only columns that their covering index carries.

At 1,000,000 deals a past window's pipeline (a scorecard's previous period, the forecast a week
ago, team health for a past period) read 50,000-95,000 deal versions from 60,000-90,000 table
pages; a team's forecast windows today 66,000 deals from 23,000. From the index alone they take a
third of that (``benchmarks/README.md``). A column added to one of these sums without adding it to
its index sends the read back to the table: these tests name the column.
"""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline.models import Deal, HistoricalDeal
from pipeline.picker import Pick
from pipeline.scopes import Scope
from reports.catalog.forecast import category_sums
from reports.catalog.people_figures import history_pipeline
from reports.catalog.team_health import _history_pipeline
from reports.runners.gap import gap_period

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 18)
# The index's condition (open versions; for deals also not deleted) is not read from its columns.
CONDITION = {"status", "deleted_at"}


def _columns(model, name: str) -> set[str]:
    [index] = [index for index in model._meta.indexes if index.name == name]
    return {model._meta.get_field(field).column for field in (*index.fields, *index.include)}


def _read(sql: str, table: str) -> set[str]:
    return set(re.findall(rf'"{table}"\."(\w+)"', sql))


def _queries(run) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        run()
    return [query["sql"] for query in queries]


@pytest.mark.parametrize("scope", [Scope(), Scope(team=7), Scope(owner=3)])
def test_past_pipeline_reads_the_open_span_index(scope):
    span = _columns(HistoricalDeal, "deal_history_open_span_idx")
    day = TODAY - datetime.timedelta(days=30)
    reads = _queries(lambda: history_pipeline(scope, [3, 4], day, 30)) + _queries(
        lambda: _history_pipeline([7], scope, day, 30)
    )
    for sql in reads:
        assert _read(sql, "pipeline_historicaldeal") - CONDITION <= span
    # ``status`` must be carried, not only be the index's condition: the sums' FILTER repeats it.
    assert "status" in span


def test_forecast_windows_read_their_indexes():
    pick = Pick("team", Scope(team=7), gap_period("quarter", TODAY))
    now, then = [
        sql for sql in _queries(lambda: category_sums(pick, TODAY)) if "GROUP BY" in sql
    ]
    assert _read(now, "pipeline_deal") - CONDITION <= _columns(Deal, "deal_open_owner_close_idx")
    # A week ago's versions: the span, owner, stage (for the weighted sum) and category.
    assert _read(then, "pipeline_historicaldeal") - {"status"} <= _columns(
        HistoricalDeal, "deal_history_open_span_idx"
    )
