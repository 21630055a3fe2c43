"""Team budgets: the figures against a budget worked out by hand, the role matrix, fixed queries."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline.models import Deal
from quotas.services import quota_set
from reports.budget.models import TeamBudget
from reports.budget.selectors import budget_figures
from reports.budget.services import budget_amount_set, budget_create
from reports.compensation.services import plan_create
from tests.factories import DealFactory, UserFactory
from tests.reports.comp_helpers import won

D = Decimal
API = "/api/v1/team-budgets/"


@pytest.fixture
def budget(admin, manager, rep, rep2, pipeline, stages):
    plan_create(
        by=admin,
        rep=rep,
        name="A",
        effective_from=datetime.date(2026, 1, 1),
        base_salary=D("60000"),
        on_target_earnings=D("120000"),
    )
    plan_create(
        by=admin,
        rep=rep2,
        name="B",
        effective_from=datetime.date(2026, 7, 1),
        base_salary=D("48000"),
        on_target_earnings=D("72000"),
    )
    quota_set(
        owner=rep,
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 12, 31),
        target=D("100000"),
    )
    won(rep, pipeline, stages, "40000", datetime.date(2026, 3, 10))
    won(rep, pipeline, stages, "20000", datetime.date(2026, 4, 10))
    hope = DealFactory(
        owner=rep,
        pipeline=pipeline,
        amount=D("10000"),
        expected_close_date=datetime.date(2026, 12, 20),
    )
    Deal.objects.filter(pk=hope.pk).update(stage=stages["Negotiation"])  # 80%
    budget = budget_create(manager=manager, year=2026, by=admin)
    for kind, category, month, amount in [
        ("planned", "training", 1, "1000"),
        ("planned", "events", 7, "5000"),
        ("actual", "headcount", 1, "8000"),
        ("actual", "training", 1, "1200"),
        ("actual", "headcount", 3, "9000"),
        ("actual", "travel", 3, "2000"),
    ]:
        budget_amount_set(
            budget=budget, kind=kind, category=category, month=month, amount=D(amount), by=admin
        )
    return budget


def test_budget_figures_by_month_worked_by_hand(budget):
    figures = budget_figures(budget, datetime.date(2026, 12, 15))
    # Projected attainment: won 40,000 + 20,000 and the open 10,000 at 80% due 20 Dec: 68,000 / 100,000
    assert figures["projected_attainment"] == D("0.6800")
    jan, mar, apr, jul = (figures["months"][i] for i in (0, 2, 3, 6))
    # January: rep's base 60,000 / 12 = 5,000; variable (120,000 - 60,000) / 12 = 5,000 x 0.68 = 3,400;
    # training 1,000: budget 9,400. Actual 8,000 + 1,200 = 9,200: variance 200; nothing won.
    assert (jan["base"], jan["commission"], jan["programmes"], jan["budget"]) == (
        D("5000.00"),
        D("3400.00"),
        D("1000.00"),
        D("9400.00"),
    )
    assert (jan["actual"], jan["variance"], jan["cost_of_sales"]) == (
        D("9200.00"),
        D("200.00"),
        None,
    )
    # March: budget 8,400; actual 9,000 + 2,000 = 11,000: variance -2,600; cost of sales 11,000 / 40,000
    assert (
        mar["budget"],
        mar["actual"],
        mar["variance"],
        mar["won_value"],
        mar["cost_of_sales"],
    ) == (
        D("8400.00"),
        D("11000.00"),
        D("-2600.00"),
        D("40000.00"),
        D("0.2750"),
    )
    # April: nothing entered yet
    assert (apr["actual"], apr["variance"], apr["won_value"]) == (None, None, D("20000.00"))
    # July: rep2 joins: 48,000 / 12 = 4,000 base, (72,000 - 48,000) / 12 = 2,000 x 0.68 = 1,360;
    # 5,000 + 3,400 + 4,000 + 1,360 + events 5,000 = 18,760
    assert (jul["base"], jul["commission"], jul["budget"]) == (
        D("9000.00"),
        D("4760.00"),
        D("18760.00"),
    )
    # The year: rep 12 x 8,400 = 100,800; rep2 6 x 5,360 = 32,160; programmes 6,000: 138,960.
    # To date (months with actuals): budget 9,400 + 8,400 = 17,800 against 20,200 spent: -2,400.
    # Cost of sales 20,200 / 60,000 = 0.3367
    assert figures["totals"] == {
        "budget": D("138960.00"),
        "budget_to_date": D("17800.00"),
        "actual": D("20200.00"),
        "variance_to_date": D("-2400.00"),
        "won_value": D("60000.00"),
        "cost_of_sales": D("0.3367"),
    }
    categories = {row["category"]: (row["planned"], row["actual"]) for row in figures["categories"]}
    assert categories["training"] == (D("1000.00"), D("1200.00"))
    assert categories["headcount"] == (D("0.00"), D("17000.00"))


@pytest.mark.parametrize(
    "who, read, actual, planned",
    [
        ("admin", 200, 200, 200),
        ("manager", 200, 200, 403),
        ("rep", 403, 403, 403),
        ("other_manager", 404, 404, 404),
        ("outsider", 403, 403, 403),
        (None, 401, 401, 401),
    ],
)
def test_budget_api_role_matrix(request, client_for, budget, who, read, actual, planned):
    client = client_for(request.getfixturevalue(who) if who else None)
    assert client.get(f"{API}{budget.pk}/").status_code == read
    spend = {"kind": "actual", "category": "events", "month": 5, "amount": "750.00"}
    assert client.post(f"{API}{budget.pk}/amounts/", spend, format="json").status_code == actual
    plan = {**spend, "kind": "planned"}
    assert client.post(f"{API}{budget.pk}/amounts/", plan, format="json").status_code == planned


def test_bad_budget_input_is_a_400_naming_the_field(client_for, admin, manager, budget):
    client = client_for(admin)
    bad = client.post(
        f"{API}{budget.pk}/amounts/",
        {"kind": "planned", "category": "headcount", "month": 2, "amount": "5.00"},
        format="json",
    )
    assert bad.status_code == 400 and "category" in bad.json()
    again = client.post(API, {"manager": manager.pk, "year": 2026}, format="json")
    assert again.status_code == 400 and "year" in again.json()
    made = client.post(API, {"manager": manager.pk, "year": 2027}, format="json")
    assert made.status_code == 201


@pytest.mark.parametrize(
    "who, code",
    [
        ("admin", 200),
        ("manager", 200),
        ("other_manager", 404),
        ("rep", 403),
        ("outsider", 403),
        (None, 302),
    ],
)
def test_budget_page_role_matrix(request, client, budget, who, code):
    if who:
        client.force_login(request.getfixturevalue(who))
    answer = client.get(f"/budget/{budget.pk}/")
    assert answer.status_code == code
    if code == 200:
        text = answer.content.decode()
        assert "budget-chart" in text and "138,960" in text
    listed = client.get("/budget/")
    assert (
        listed.status_code
        == {
            "admin": 200,
            "manager": 200,
            "other_manager": 200,
            "rep": 403,
            "outsider": 403,
            None: 302,
        }[who]
    )


def test_a_manager_enters_actual_spend_on_the_page(client, manager, budget):
    client.force_login(manager)
    answer = client.post(
        f"/budget/{budget.pk}/",
        {"kind": "actual", "category": "travel", "month": "4", "amount": "300"},
    )
    assert answer.status_code == 302
    refused = client.post(
        f"/budget/{budget.pk}/",
        {"kind": "planned", "category": "travel", "month": "4", "amount": "300"},
    )
    assert refused.status_code == 403


def test_lists_and_the_budget_take_the_same_queries_at_two_sizes(client, client_for, admin, budget):
    counts = []
    for n in (2, 20):
        for _ in range(n):
            boss = UserFactory(role="manager")
            UserFactory(manager=boss)
            TeamBudget.objects.create(manager=boss, year=2026)
        for path in (f"{API}?page_size=200", f"{API}{budget.pk}/"):
            with CaptureQueriesContext(connection) as queries:
                assert client_for(admin).get(path).status_code == 200
            counts.append(len(queries))
        client.force_login(admin)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/budget/").status_code == 200
        counts.append(len(queries))
    assert counts[:3] == counts[3:], counts
