"""The plan edit page: admins change or delete a plan; everyone else is refused; bad input names the field."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.compensation.models import CommissionPlan, CommissionStatement, PlanTier
from reports.compensation.services import BonusSpec, TierSpec, plan_create, statement_compute
from tests.factories import ProductFactory

JAN = datetime.date(2026, 1, 1)


@pytest.fixture
def plan(admin, rep):
    return plan_create(
        by=admin,
        rep=rep,
        name="Riley 2026",
        effective_from=JAN,
        kind="tiered",
        base_salary=Decimal("48000"),
        tiers=[TierSpec(Decimal(0), Decimal(5)), TierSpec(Decimal(100), Decimal(8))],
        product_bonuses=[BonusSpec(ProductFactory(sku="PRO-1"), Decimal("500"))],
    )


def _login(client, request, who):
    if who:
        client.force_login(request.getfixturevalue(who))
    return client


def _body(**changes):
    body = {
        "name": "Riley 2026 v2",
        "effective_from": "2026-01-01",
        "effective_to": "",
        "base_salary": "50000",
        "on_target_earnings": "100000",
        "kind": "tiered",
        "flat_rate": "0",
        "tiers": "0:6, 100:9, 150:12",
        "cap": "",
        "new_logo_bonus": "250",
        "product_bonuses": "",
        "clawback_days": "60",
    }
    return {**body, **changes}


WHO = [
    ("admin", 200),
    ("manager", 403),  # reads the team's plans, changes none
    ("rep", 403),  # reads their own plan
    ("rep2", 404),  # a teammate's plan is out of sight
    ("other_manager", 404),
    ("outsider", 404),
    (None, 302),
]


@pytest.mark.parametrize("who, code", WHO)
def test_the_edit_page_follows_the_role_matrix(request, client, plan, who, code):
    answer = _login(client, request, who).get(f"/compensation/plans/{plan.pk}/")
    assert answer.status_code == code
    if who is None:
        assert answer["Location"].startswith("/accounts/login") or "login" in answer["Location"]
    if code == 200:
        text = answer.content.decode()
        assert 'value="0:5, 100:8"' in text and 'value="PRO-1: 500.00"' in text


@pytest.mark.parametrize("who, code", [(w, 302 if w == "admin" else c) for w, c in WHO])
def test_only_admins_save_a_plan(request, client, plan, who, code):
    answer = _login(client, request, who).post(f"/compensation/plans/{plan.pk}/", _body())
    assert answer.status_code == code
    plan.refresh_from_db()
    changed = who == "admin"
    assert (plan.name == "Riley 2026 v2") == changed
    assert plan.base_salary == Decimal("50000" if changed else "48000")
    tiers = sorted(plan.tiers.values_list("from_attainment", "rate"))
    assert len(tiers) == (3 if changed else 2)
    assert plan.product_bonuses.count() == (0 if changed else 1)


@pytest.mark.parametrize("who, code", [(w, 302 if w == "admin" else c) for w, c in WHO])
def test_only_admins_delete_a_plan(request, client, plan, who, code):
    answer = _login(client, request, who).post(f"/compensation/plans/{plan.pk}/delete/")
    assert answer.status_code == code
    assert CommissionPlan.objects.filter(pk=plan.pk).exists() == (who != "admin")


def test_the_plans_list_links_to_the_edit_page_for_admins_only(client, plan, admin, manager):
    client.force_login(admin)
    assert f'href="/compensation/plans/{plan.pk}/"' in client.get("/compensation/plans/").text
    client.force_login(manager)
    assert f'href="/compensation/plans/{plan.pk}/"' not in client.get("/compensation/plans/").text


def test_the_edit_saves_product_bonuses_by_sku(client, plan, admin):
    ProductFactory(sku="ADD-2")
    client.force_login(admin)
    body = _body(product_bonuses="PRO-1: 700, ADD-2: 200")
    assert client.post(f"/compensation/plans/{plan.pk}/", body).status_code == 302
    bonuses = dict(plan.product_bonuses.values_list("product__sku", "amount"))
    assert bonuses == {"PRO-1": Decimal("700"), "ADD-2": Decimal("200")}


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"effective_from": "March"}, "effective_from"),
        ({"effective_to": "2025-12-31"}, "effective_to"),
        ({"effective_to": "soon"}, "effective_to"),
        ({"base_salary": "-1"}, "base_salary"),
        ({"base_salary": "1e20"}, "base_salary"),
        ({"on_target_earnings": "lots"}, "on_target_earnings"),
        ({"kind": "bespoke"}, "kind"),
        ({"kind": "flat", "flat_rate": "150"}, "flat_rate"),
        ({"tiers": ""}, "tiers"),
        ({"tiers": "0:5, 0:7"}, "tiers"),
        ({"tiers": "0:five"}, "tiers"),
        ({"tiers": "0:120"}, "tiers"),
        ({"tiers": "99999:5"}, "tiers"),
        ({"cap": "NaN"}, "cap"),
        ({"product_bonuses": "NOPE-9: 100"}, "product_bonuses"),
        ({"product_bonuses": "PRO-1: 1, PRO-1: 2"}, "product_bonuses"),
        ({"product_bonuses": "PRO-1: -5"}, "product_bonuses"),
        ({"product_bonuses": "PRO-1"}, "product_bonuses"),
        ({"clawback_days": "2.5"}, "clawback_days"),
        ({"clawback_days": "99999"}, "clawback_days"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(client, plan, admin, changes, field):
    client.force_login(admin)
    answer = client.post(f"/compensation/plans/{plan.pk}/", _body(**changes))
    assert answer.status_code == 400
    assert f"{field}: " in answer.content.decode()
    plan.refresh_from_db()
    assert (plan.name, plan.base_salary, plan.kind) == ("Riley 2026", Decimal("48000"), "tiered")
    assert sorted(PlanTier.objects.filter(plan=plan).values_list("rate", flat=True)) == [5, 8]
    assert plan.product_bonuses.count() == 1


def test_an_edit_that_overlaps_another_plan_is_refused(client, plan, admin, rep):
    plan.effective_to = datetime.date(2026, 6, 30)
    plan.save()
    later = plan_create(by=admin, rep=rep, name="H2", effective_from=datetime.date(2026, 7, 1))
    client.force_login(admin)
    answer = client.post(f"/compensation/plans/{later.pk}/", _body(effective_from="2026-06-01"))
    assert answer.status_code == 400 and "one plan per rep per period" in answer.text
    later.refresh_from_db()
    assert later.effective_from == datetime.date(2026, 7, 1)


def test_deleting_a_plan_keeps_its_statements(client, plan, admin, rep):
    statement = statement_compute(rep=rep, month=JAN, as_of=datetime.date(2026, 1, 31), by=admin)
    client.force_login(admin)
    page = client.get(f"/compensation/plans/{plan.pk}/").text
    assert "1 statement was computed from this plan" in page
    assert client.post(f"/compensation/plans/{plan.pk}/delete/").status_code == 302
    statement = CommissionStatement.objects.get(pk=statement.pk)
    assert statement.plan_id is None and statement.plan_name == "Riley 2026"


def test_get_on_delete_is_refused(client, plan, admin):
    client.force_login(admin)
    assert client.get(f"/compensation/plans/{plan.pk}/delete/").status_code == 405
    assert CommissionPlan.objects.filter(pk=plan.pk).exists()


def test_the_edit_page_takes_the_same_queries_at_two_sizes(client, plan, admin, rep):
    client.force_login(admin)
    counts = []
    for n in (2, 25):
        plan.tiers.all().delete()
        plan.product_bonuses.all().delete()
        PlanTier.objects.bulk_create(
            PlanTier(plan=plan, from_attainment=Decimal(i * 10), rate=Decimal(5)) for i in range(n)
        )
        for i in range(n):
            plan.product_bonuses.create(product=ProductFactory(), amount=Decimal(i))
        for month in range(1, min(n, 12) + 1):
            CommissionStatement.objects.create(
                rep=rep,
                plan=plan,
                month=datetime.date(2026, month, 1),
                version=n,
                as_of=JAN,
                currency="USD",
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/compensation/plans/{plan.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    print(f"plan edit page: {counts[0]} queries")  # benchmarks/README.md quotes this (run with -s)


def test_the_add_form_takes_product_bonuses_and_names_a_bad_sku(client, admin, rep):
    ProductFactory(sku="PRO-7")
    client.force_login(admin)
    body = {"rep": rep.pk, "name": "New", "effective_from": "2026-01-01", "flat_rate": "5"}
    bad = client.post("/compensation/plans/", {**body, "product_bonuses": "NOPE: 5"})
    assert bad.status_code == 400 and "product_bonuses: No product with SKU NOPE" in bad.text
    assert not CommissionPlan.objects.filter(rep=rep).exists()
    good = client.post("/compensation/plans/", {**body, "product_bonuses": "PRO-7: 300"})
    assert good.status_code == 302
    plan = CommissionPlan.objects.get(rep=rep)
    assert list(plan.product_bonuses.values_list("product__sku", "amount")) == [
        ("PRO-7", Decimal("300"))
    ]
