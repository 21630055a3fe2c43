"""The funnel activity report: activities by kind per rep and week against stage advances and wins.

A two-week history, W the Monday three weeks ago, period W..W+13:

- rep: week W 2 calls and 1 e-mail (and a call three days before W, outside the
  period); week W+7 a meeting, a client visit and a note. Deal A (created before
  W) goes to Discovery on W+1 and Proposal on W+2 (two advances in week W) and is
  won on W+8 (an advance and a win in week W+7). Deal B is created on W+1 and
  lost on W+3: neither is an advance.
- rep2: week W one call; deal F won from Qualification on W+9.
- outsider (another team): 3 e-mails and an advance in week W.

For the manager's team: rep W 3 activities, 2 advances; rep W+7 3 activities,
1 advance, 1 win (3 per win); rep2 W 1 activity; rep2 W+7 0 activities, 1
advance, 1 win. In all 7 activities, 4 advances, 2 wins: 3.5 per win.
"""

import csv
import datetime
import io
import random

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from pipeline.models import Activity
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from pipeline.services.activities import activity_log
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from reports.catalog.funnel_activity import KIND_COLUMNS, activity_counts
from tests.conftest import rollup_check
from tests.factories import AccountFactory, LostReasonFactory

URL = "/reports/funnel-activity/"


@pytest.fixture
def week0():
    today = timezone.localdate()
    return today - datetime.timedelta(days=today.weekday() + 21)


@pytest.fixture
def period(week0):
    last = week0 + datetime.timedelta(days=13)
    return f"?period=custom&start={week0.isoformat()}&end={last.isoformat()}"


def _history(admin, people, pipeline, stages, week0, copies=1):
    """The history above; ``copies`` repeats every deal and activity (for the query-count pin)."""

    def at(days, hours=10):
        return start_of(week0) + datetime.timedelta(days=days, hours=hours)

    rep, rep2, outsider = people
    accounts = {person.pk: AccountFactory(owner=person) for person in people}
    q, d, p = stages["Qualification"], stages["Discovery"], stages["Proposal"]
    won, lost = stages["Won"], stages["Lost"]
    reason = LostReasonFactory(name="Price")

    def spec(name, owner, stage, moves, lost_reason=None):
        return DealSpec(
            name=name,
            account_id=accounts[owner.pk].pk,
            owner_id=owner.pk,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            amount=1000,
            currency="USD",
            expected_close_date=week0 + datetime.timedelta(days=40),
            forecast_category="pipeline",
            created_at=at(moves[0][1]),
            lost_reason_id=lost_reason,
            transitions=[
                TransitionSpec(to_stage_id=s.pk, at=at(t), by_id=owner.pk) for s, t in moves
            ],
            changes=[],
        )

    for _ in range(copies):
        deals_import(
            specs=[
                spec("A", rep, won, [(q, -10), (d, 1), (p, 2), (won, 8)]),
                spec("B", rep, lost, [(q, 1), (lost, 3)], lost_reason=reason.pk),
                spec("F", rep2, won, [(q, -20), (won, 9)]),
                spec("O", outsider, d, [(q, 0), (d, 1)]),
            ],
            by=admin,
        )
        logged = [
            (rep, "call", -3),
            (rep, "call", 0),
            (rep, "call", 2),
            (rep, "email", 4),
            (rep, "meeting", 7),
            (rep, "client_visit", 9),
            (rep, "note", 13),
            (rep2, "call", 1),
            (outsider, "email", 1),
            (outsider, "email", 2),
            (outsider, "email", 3),
        ]
        for person, kind, day in logged:
            activity_log(
                by=person,
                kind=kind,
                subject=f"{kind} {day}",
                occurred_at=at(day),
                account=accounts[person.pk],
            )


@pytest.fixture
def history(admin, rep, rep2, outsider, pipeline, stages, week0):
    _history(admin, (rep, rep2, outsider), pipeline, stages, week0)


def test_the_team_table_holds_the_hand_worked_figures(
    client, manager, rep, rep2, history, week0, period
):
    client.force_login(manager)
    response = client.get(URL + period)
    assert response.status_code == 200
    result = response.context["result"]
    week1 = week0 + datetime.timedelta(days=7)
    zero = {"calls": 0, "emails": 0, "meetings": 0, "visits": 0, "notes": 0}
    expected = {
        (rep.display_name, week0): {
            **zero,
            "calls": 2,
            "emails": 1,
            "activities": 3,
            "advances": 2,
            "wins": 0,
            "per_win": None,
        },
        (rep.display_name, week1): {
            **zero,
            "meetings": 1,
            "visits": 1,
            "notes": 1,
            "activities": 3,
            "advances": 1,
            "wins": 1,
            "per_win": 3.0,
        },
        (rep2.display_name, week0): {
            **zero,
            "calls": 1,
            "activities": 1,
            "advances": 0,
            "wins": 0,
            "per_win": None,
        },
        (rep2.display_name, week1): {
            **zero,
            "activities": 0,
            "advances": 1,
            "wins": 1,
            "per_win": 0.0,
        },
    }
    got = {
        (row["rep"], row["week"]): {k: v for k, v in row.items() if k not in ("rep", "week")}
        for row in result.rows
    }
    assert got == expected
    totals = result.totals
    assert (
        totals["calls"],
        totals["emails"],
        totals["meetings"],
        totals["visits"],
        totals["notes"],
    ) == (3, 1, 1, 1, 1)
    assert (totals["activities"], totals["advances"], totals["wins"], totals["per_win"]) == (
        7,
        4,
        2,
        3.5,
    )
    assert "3.5 activities per win" in result.notes[0]
    chart = result.charts[0].figure
    names = [trace["name"] for trace in chart["data"]]
    assert names == ["Calls", "E-mails", "Meetings", "Client visits", "Notes", "Wins"]
    assert chart["data"][-1]["y"] == [0, 2] and chart["data"][0]["y"] == [3, 0]


@pytest.mark.parametrize(
    "who, people",
    [
        ("admin", {"rep", "rep2", "outsider"}),
        ("manager", {"rep", "rep2"}),
        ("other_manager", {"outsider"}),
        ("rep", {"rep"}),
        ("rep2", {"rep2"}),
        ("outsider", {"outsider"}),
    ],
)
def test_each_role_sees_only_its_people(client, request, history, period, who, people):
    client.force_login(request.getfixturevalue(who))
    response = client.get(URL + period)
    assert response.status_code == 200
    shown = {row["rep"] for row in response.context["result"].rows}
    assert shown == {request.getfixturevalue(name).display_name for name in people}


def test_a_rep_cannot_widen_the_scope_by_hand(client, rep, manager, history, period):
    client.force_login(rep)
    response = client.get(URL + period + f"&scope=team&scope_id={manager.pk}")
    assert {row["rep"] for row in response.context["result"].rows} == {rep.display_name}


def test_the_query_count_stays_the_same_with_twice_the_rows(
    client,
    admin,
    manager,
    rep,
    rep2,
    outsider,
    pipeline,
    stages,
    week0,
    period,
    django_assert_num_queries,
):
    _history(admin, (rep, rep2, outsider), pipeline, stages, week0)
    client.force_login(manager)
    client.get(URL + period)  # the session remembers the pick
    with django_assert_num_queries(QUERIES + rollup_check()):
        first = client.get(URL + period)
    _history(admin, (rep, rep2, outsider), pipeline, stages, week0)
    with django_assert_num_queries(QUERIES + rollup_check()):
        second = client.get(URL + period)
    assert (
        second.context["result"].totals["activities"]
        == 2 * first.context["result"].totals["activities"]
    )


# Session, user, the three grouped counts, the names, and the picker's choices.
QUERIES = 9


def test_the_exports_hold_the_table(client, manager, rep, history, week0, period):
    client.force_login(manager)
    response = client.get(URL + "export.csv" + period)
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "Rep",
        "Week of",
        "Calls",
        "E-mails",
        "Meetings",
        "Client visits",
        "Notes",
        "Activities",
        "Stage advances",
        "Wins",
        "Activities per win",
    ]
    assert [rep.display_name, week0.isoformat(), "2", "1", "0", "0", "0", "3", "2", "0", ""] in rows
    assert rows[-1] == ["Total", "", "3", "1", "1", "1", "1", "7", "4", "2", "3.5"]
    response = client.get(URL + "export.xlsx" + period)
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[-1] == ["Total", None, 3, 1, 1, 1, 1, 7, 4, 2, 3.5]
    assert values[1][1] == datetime.datetime.combine(week0, datetime.time())


@pytest.mark.parametrize("seed", [3, 17])
def test_the_activity_counts_match_an_oracle_on_drawn_activities(
    admin, manager, rep, rep2, outsider, other_manager, week0, seed
):
    """Drawn activities by people of every role, some outside the period: each scope's cells are
    its people's activities of the period counted by author, local week and kind."""
    rng = random.Random(seed)
    people = [admin, manager, rep, rep2, outsider, other_manager]
    accounts = {person.pk: AccountFactory(owner=person) for person in people}
    kinds = list(KIND_COLUMNS)
    for n in range(120):
        person = rng.choice(people)
        activity_log(
            by=person,
            kind=rng.choice(kinds),
            subject=f"drawn {n}",
            occurred_at=start_of(week0)
            + datetime.timedelta(days=rng.randint(-5, 20), minutes=rng.randint(0, 1439)),
            account=accounts[person.pk],
        )
    period = Period(week0, week0 + datetime.timedelta(days=14))
    start, end = period.bounds
    scopes = {
        Scope(): {rep.pk, rep2.pk, outsider.pk},
        Scope(team=manager.pk): {rep.pk, rep2.pk},
        Scope(owner=rep.pk): {rep.pk},
    }
    for scope, authors in scopes.items():
        expected: dict = {}
        for activity in Activity.objects.all():
            if activity.author_id in authors and start <= activity.occurred_at < end:
                local = timezone.localtime(activity.occurred_at).date()
                week = local - datetime.timedelta(days=local.weekday())
                cell = expected.setdefault((activity.author_id, week), {})
                key = KIND_COLUMNS[activity.kind]
                cell[key] = cell.get(key, 0) + 1
        cells = activity_counts(Pick(kind="organisation", scope=scope, period=period))
        found = {
            key: {kind: counts[kind] for kind in KIND_COLUMNS.values() if counts[kind]}
            for key, counts in cells.items()
        }
        assert found == expected, scope
