"""Commission plans and statements over the API: the role matrix on every endpoint, input errors
and fixed query counts."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.compensation.models import CommissionStatement, StatementLine
from reports.compensation.services import plan_create, statement_compute
from tests.factories import DealFactory, UserFactory
from tests.reports.comp_helpers import month_quota, won

API = "/api/v1/"
MARCH = datetime.date(2026, 3, 1)
WHO = ["admin", "manager", "rep", "rep2", "other_manager", "outsider", None]


@pytest.fixture
def cast(admin, manager, rep, rep2, other_manager, outsider, pipeline, stages):
    plans = {
        person.username: plan_create(
            by=admin,
            rep=person,
            name=f"Plan {person.username}",
            effective_from=datetime.date(2026, 1, 1),
            flat_rate=Decimal("10"),
        )
        for person in (rep, rep2, outsider)
    }
    month_quota(rep, MARCH, "10000")
    won(rep, pipeline, stages, "4000", datetime.date(2026, 3, 5), name="Rep's win")
    statements = {
        person.username: statement_compute(
            rep=person, month=MARCH, as_of=datetime.date(2026, 3, 31), by=admin
        )
        for person in (rep, rep2, outsider)
    }
    return {"plans": plans, "statements": statements}


def _client(request, client_for, who):
    return client_for(request.getfixturevalue(who) if who else None)


# Whose rep's records each person sees: rep's records are seen by admin, their manager and rep.
SEES_REP = {
    "admin": 200,
    "manager": 200,
    "rep": 200,
    "rep2": 404,
    "other_manager": 404,
    "outsider": 404,
    None: 401,
}


@pytest.mark.parametrize("who", WHO)
def test_plan_and_statement_reads_follow_the_role_matrix(request, client_for, cast, who):
    client = _client(request, client_for, who)
    plan = cast["plans"]["rep"]
    statement = cast["statements"]["rep"]
    assert client.get(f"{API}commission-plans/{plan.pk}/").status_code == SEES_REP[who]
    assert client.get(f"{API}commission-statements/{statement.pk}/").status_code == SEES_REP[who]
    listed = client.get(f"{API}commission-plans/")
    if who is None:
        assert listed.status_code == 401
        return
    names = {row["rep_name"] for row in listed.json()["results"]}
    expected = {
        "admin": {"Riley Rep", "Robin Rep", "Olive Outsider"},
        "manager": {"Riley Rep", "Robin Rep"},
        "rep": {"Riley Rep"},
        "rep2": {"Robin Rep"},
        "other_manager": {"Olive Outsider"},
        "outsider": {"Olive Outsider"},
    }[who]
    assert names == expected
    statements = client.get(f"{API}commission-statements/").json()["results"]
    assert {row["rep_name"] for row in statements} == expected


@pytest.mark.parametrize("who", WHO)
def test_only_admins_write_plans_and_compute_or_approve_statements(
    request, client_for, cast, rep, who
):
    client = _client(request, client_for, who)
    plan = cast["plans"]["rep"]
    statement = cast["statements"]["rep"]
    visible = SEES_REP[who] == 200
    refused = 401 if who is None else 403
    answers = [
        client.patch(
            f"{API}commission-plans/{plan.pk}/", {"name": "Renamed"}, format="json"
        ).status_code,
        client.post(
            f"{API}commission-statements/compute/",
            {"rep": rep.pk, "month": "2026-03-01"},
            format="json",
        ).status_code,
        client.post(
            f"{API}commission-statements/{statement.pk}/recompute/", {}, format="json"
        ).status_code,
        client.post(
            f"{API}commission-statements/{statement.pk}/approve/", format="json"
        ).status_code,
    ]
    if who == "admin":
        assert answers == [
            200,
            201,
            201,
            400,
        ]  # the recompute superseded the draft: approve refuses it
    else:
        assert answers == [refused] * 4
    assert visible or who != "admin"


def test_admin_creates_a_tiered_plan_and_an_overlapping_one_is_a_400(client_for, admin, manager):
    newcomer = UserFactory(username="newcomer", manager=manager)
    client = client_for(admin)
    body = {
        "rep": newcomer.pk,
        "name": "Tiered 2026",
        "effective_from": "2026-01-01",
        "effective_to": "2026-12-31",
        "kind": "tiered",
        "base_salary": "60000.00",
        "on_target_earnings": "120000.00",
        "tiers": [{"from_attainment": "0", "rate": "5"}, {"from_attainment": "100", "rate": "8"}],
        "cap": "20000.00",
    }
    created = client.post(f"{API}commission-plans/", body, format="json")
    assert created.status_code == 201, created.content
    assert [tier["rate"] for tier in created.json()["tiers"]] == ["5.000", "8.000"]
    overlapping = client.post(
        f"{API}commission-plans/",
        {**body, "effective_from": "2026-06-01", "effective_to": None},
        format="json",
    )
    assert overlapping.status_code == 400
    assert "one plan per rep per period" in overlapping.json()["effective_from"][0]
    backwards = client.post(
        f"{API}commission-plans/",
        {**body, "effective_from": "2027-06-01", "effective_to": "2027-01-01"},
        format="json",
    )
    assert backwards.status_code == 400 and "effective_to" in backwards.json()
    no_tiers = client.post(
        f"{API}commission-plans/",
        {**body, "effective_from": "2028-01-01", "effective_to": None, "tiers": []},
        format="json",
    )
    assert no_tiers.status_code == 400 and "tiers" in no_tiers.json()


def test_recompute_answers_the_new_version_and_what_changed(client_for, admin, cast):
    statement = cast["statements"]["rep"]
    answer = client_for(admin).post(
        f"{API}commission-statements/{statement.pk}/recompute/",
        {"as_of": "2026-03-31"},
        format="json",
    )
    body = answer.json()
    assert (body["version"], body["status"], body["total"]) == (2, "draft", "400.00")
    assert body["changes"]["total_change"] == "0.00"
    assert body["lines"][0]["deal_name"] == "Rep's win" and body["lines"][0]["amount"] == "400.00"
    assert (
        client_for(admin).post(f"{API}commission-statements/{body['id']}/approve/").json()["status"]
        == "approved"
    )
    current = (
        client_for(admin)
        .get(f"{API}commission-statements/?current=true&rep={statement.rep_id}")
        .json()["results"]
    )
    assert [(row["version"], row["status"]) for row in current] == [(2, "approved")]


@pytest.mark.parametrize(
    "who, expected",
    [("rep", 200), ("manager", 200), ("admin", 200), ("rep2", 400), ("other_manager", 400)],
)
def test_what_if_for_a_rep(request, client_for, cast, rep, pipeline, who, expected):
    hope = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("2500"))
    client = _client(request, client_for, who)
    answer = client.post(
        f"{API}commission-statements/what-if/",
        {"rep": rep.pk, "month": "2026-03-01", "deals": [hope.pk]},
        format="json",
    )
    assert answer.status_code == expected, answer.content
    if expected == 200:
        # 4,000 won x 10% = 400.00 + 2,500 what-if x 10% = 250.00
        assert answer.json()["total"] == "650.00"
        assert [line["deal"] for line in answer.json()["lines"]][-1] == hope.pk
    assert CommissionStatement.objects.filter(rep=rep).count() == 1


def test_what_if_refuses_a_deal_that_is_not_the_reps_open_deal(
    client_for, cast, rep, rep2, pipeline
):
    theirs = DealFactory(owner=rep2, pipeline=pipeline)
    answer = client_for(rep).post(
        f"{API}commission-statements/what-if/", {"deals": [theirs.pk, 999999]}, format="json"
    )
    assert answer.status_code == 400 and "deals" in answer.json()


def test_anonymous_what_if_is_401(client_for, cast):
    assert (
        client_for(None)
        .post(f"{API}commission-statements/what-if/", {"deals": []}, format="json")
        .status_code
        == 401
    )


def _more_statements(rep_ids, n, first_year):
    rows = []
    for i in range(n):
        month = datetime.date(first_year + i // 12, i % 12 + 1, 1)
        rows.append(
            CommissionStatement(
                rep_id=rep_ids[i % len(rep_ids)],
                month=month,
                as_of=month,
                currency="USD",
                total=Decimal(i),
            )
        )
    made = CommissionStatement.objects.bulk_create(rows)
    StatementLine.objects.bulk_create(
        StatementLine(statement=s, kind="credit", amount=Decimal(1)) for s in made
    )


@pytest.mark.parametrize(
    "path", ["commission-statements/", "commission-statements/?current=true", "commission-plans/"]
)
def test_lists_take_the_same_queries_at_two_sizes(
    client_for, admin, manager, rep, rep2, cast, path
):
    counts = []
    for extra, first_year in ((3, 2000), (60, 2010)):
        _more_statements([rep.pk, rep2.pk], extra, first_year)
        for _ in range(extra // 10):
            person = UserFactory(manager=manager)
            plan_create(by=admin, rep=person, name="More", effective_from=datetime.date(2026, 1, 1))
        for user in (admin, manager):
            with CaptureQueriesContext(connection) as queries:
                assert (
                    client_for(user)
                    .get(
                        f"{API}{path}&page_size=200"
                        if "?" in path
                        else f"{API}{path}?page_size=200"
                    )
                    .status_code
                    == 200
                )
            counts.append(len(queries))
    assert counts[:2] == counts[2:], counts
    assert max(counts) <= 6
