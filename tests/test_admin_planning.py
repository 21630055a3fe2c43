"""The Django admin of hiring, compensation and budgets: every list and change page answers for
admins in a fixed number of queries whatever the number of rows and lines, is closed to everyone
else, writes through the services, and never edits a statement."""

import datetime
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coaching.models import Applicant, InterviewNote, Position, Scorecard
from coaching.services import (
    applicant_add,
    applicant_move,
    interview_note_add,
    position_create,
    scorecard_record,
)
from reports.budget.models import BudgetAmount, TeamBudget
from reports.budget.services import budget_amount_set, budget_create
from reports.compensation.models import CommissionPlan, CommissionStatement
from reports.compensation.services import (
    BonusSpec,
    TierSpec,
    plan_create,
    statement_approve,
    statement_compute,
)
from tests.factories import PipelineFactory, ProductFactory, UserFactory
from tests.reports.comp_helpers import won

MODELS = [
    CommissionPlan,
    CommissionStatement,
    TeamBudget,
    BudgetAmount,
    Position,
    Applicant,
    InterviewNote,
    Scorecard,
]
MARCH = datetime.date(2026, 3, 1)
COMPETENCIES = ["prospecting", "discovery", "presenting", "negotiation", "closing", "coachability"]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def grow(admin_user, count: int, tag: str) -> None:
    """A manager and ``count`` reps, each with a tiered plan of ``count`` tiers, ``count`` deals
    won in March and their statement; the team's budget with 2 x ``count`` amounts; a position
    with ``count`` applicants, the last with ``count`` notes and a scorecard of up to six ratings."""
    manager = UserFactory(username=f"mgr-{tag}", role="manager", full_name=f"Manager {tag}")
    pipeline = PipelineFactory(name=f"Pipeline {tag}")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    product = ProductFactory()
    for index in range(count):
        rep = UserFactory(username=f"rep-{tag}-{index}", manager=manager)
        plan_create(
            by=admin_user,
            rep=rep,
            name=f"Tiered {tag}",
            effective_from=datetime.date(2026, 1, 1),
            kind="tiered",
            tiers=[TierSpec(Decimal(step * 50), Decimal(5 + step)) for step in range(count)],
            product_bonuses=[BonusSpec(product, Decimal("100"))],
            cap=Decimal("100000"),
        )
        for deal in range(count):
            won(rep, pipeline, stages, "1000", MARCH + datetime.timedelta(days=deal + 1))
        statement_approve(
            statement=statement_compute(
                rep=rep, month=MARCH, as_of=datetime.date(2026, 3, 31), by=admin_user
            ),
            by=admin_user,
        )
    budget = budget_create(manager=manager, year=2026, by=admin_user)
    for month in range(1, count + 1):
        budget_amount_set(
            budget=budget,
            kind="planned",
            category="training",
            month=month,
            amount=Decimal("500"),
            by=admin_user,
        )
        budget_amount_set(
            budget=budget,
            kind="actual",
            category="travel",
            month=month,
            amount=Decimal("300"),
            by=admin_user,
        )
    position = position_create(
        by=admin_user,
        title=f"Account executive {tag}",
        manager=manager,
        start_wanted=datetime.date(2026, 9, 1),
    )
    for index in range(count):
        applicant = applicant_add(by=admin_user, position=position, full_name=f"Cand {tag} {index}")
    applicant = applicant_move(
        by=admin_user, applicant=applicant, stage="interview", expected_version=1
    ).applicant
    for index in range(count):
        interview_note_add(by=admin_user, applicant=applicant, text=f"Note {index}")
    scorecard_record(
        by=admin_user,
        applicant=applicant,
        recommendation="yes",
        ratings={name: 4 for name in COMPETENCIES[: min(count, 6)]},
    )


@pytest.fixture
def site_admin(db):
    """An admin by role only: no superuser flag, no Django permissions."""
    return UserFactory(username="siteadmin", role="admin", full_name="Sam Siteadmin")


def _queries(client, address: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(address)
    assert response.status_code == 200, (address, response.status_code)
    return len(queries)


def _pages_answer(client, model) -> None:
    for page in _pages(model):
        assert client.get(page).status_code == 200


def _pages(model) -> list[str]:
    latest = model._default_manager.order_by("-pk").first()
    return [url(model, "changelist"), url(model, "change", latest.pk)]


@pytest.mark.parametrize("superuser", [False, True], ids=["admin-role", "superuser"])
def test_every_list_and_change_page_runs_as_many_queries_for_many_rows_as_for_one(
    client, site_admin, superuser
):
    if superuser:
        site_admin.is_superuser = True
        site_admin.save(update_fields=["is_superuser"])
    client.force_login(site_admin)
    grow(site_admin, 1, "a")
    for model in MODELS:  # the content types' cache filled, as on any page after the first
        _pages_answer(client, model)
    small = {model: [_queries(client, page) for page in _pages(model)] for model in MODELS}
    grow(site_admin, 5, "b")
    assert CommissionStatement.objects.order_by("-pk").first().lines.count() == 5
    assert BudgetAmount.objects.count() == 12
    big = {model: [_queries(client, page) for page in _pages(model)] for model in MODELS}
    assert big == small, (small, big)
    for model, (listing, change) in big.items():
        assert listing <= 12, model
        assert change <= 16, model


@pytest.fixture
def planning(site_admin):
    grow(site_admin, 1, "a")


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
@pytest.mark.parametrize("role", ["rep", "manager"])
def test_people_who_are_not_admins_cannot_reach_them(client, planning, model, role):
    person = UserFactory(username=f"not-admin-{role}", role=role)
    client.force_login(person)
    latest = model._default_manager.order_by("-pk").first()
    for address in (url(model, "changelist"), url(model, "change", latest.pk), url(model, "add")):
        response = client.get(address)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], address
    person.is_staff = True  # staff by mistake: still not theirs
    person.save(update_fields=["is_staff"])
    for address in (url(model, "changelist"), url(model, "change", latest.pk)):
        assert client.get(address).status_code == 403, address
    assert (
        model._meta.verbose_name_plural.title()
        not in client.get(reverse("admin:index")).content.decode()
    )


def test_anonymous_visitors_are_sent_to_the_login(client, planning):
    for model in MODELS:
        response = client.get(url(model, "changelist"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_statement_and_its_lines_cannot_be_changed_in_the_admin(client, site_admin, planning):
    client.force_login(site_admin)
    statement = CommissionStatement.objects.get()
    page = client.get(url(CommissionStatement, "change", statement.pk))
    assert page.status_code == 200
    assert b'name="total"' not in page.content  # shown, not an input
    assert statement.lines.exists()
    for line in statement.lines.all():
        assert line.deal_name.encode() in page.content
    before = (statement.total, statement.status, statement.version)
    assert (
        client.post(url(CommissionStatement, "change", statement.pk), {"total": "1"}).status_code
        == 403
    )
    assert (
        client.post(url(CommissionStatement, "delete", statement.pk), {"post": "yes"}).status_code
        == 403
    )
    assert client.get(url(CommissionStatement, "add")).status_code == 403
    statement.refresh_from_db()
    assert (statement.total, statement.status, statement.version) == before
    model_admin = admin.site._registry[CommissionStatement]
    request = type("Request", (), {"user": site_admin})()
    assert not model_admin.has_change_permission(request, statement)
    assert all(
        not inline.has_change_permission(request, statement)
        for inline in model_admin.get_inline_instances(request, statement)
    )


def test_a_plan_added_in_the_admin_goes_through_the_service_and_its_rules(
    client, site_admin, planning
):
    client.force_login(site_admin)
    rep = UserFactory(username="newrep", full_name="Nia Newrep")
    data = {
        "rep": rep.pk,
        "name": "Flat 8%",
        "effective_from": "2026-01-01",
        "effective_to": "",
        "base_salary": "50000",
        "on_target_earnings": "90000",
        "kind": "flat",
        "flat_rate": "8",
        "cap": "",
        "new_logo_bonus": "0",
        "clawback_days": "60",
        "tiers-TOTAL_FORMS": "0",
        "tiers-INITIAL_FORMS": "0",
        "product_bonuses-TOTAL_FORMS": "0",
        "product_bonuses-INITIAL_FORMS": "0",
    }
    assert client.post(url(CommissionPlan, "add"), data).status_code == 302
    plan = CommissionPlan.objects.get(rep=rep)
    assert (plan.flat_rate, plan.clawback_days) == (Decimal("8.000"), 60)
    overlapping = client.post(url(CommissionPlan, "add"), {**data, "effective_from": "2026-06-01"})
    assert overlapping.status_code == 200
    assert "one plan per rep per period" in str(overlapping.context["adminform"].form.errors)
    assert CommissionPlan.objects.filter(rep=rep).count() == 1


def test_a_planned_headcount_amount_is_a_form_error_and_actual_spend_is_saved(
    client, site_admin, planning
):
    client.force_login(site_admin)
    budget = TeamBudget.objects.get()
    data = {"budget": budget.pk, "kind": "planned", "category": "headcount", "month": 7}
    refused = client.post(url(BudgetAmount, "add"), {**data, "amount": "900"})
    assert refused.status_code == 200
    assert "Headcount is planned" in str(refused.context["adminform"].form.errors)
    saved = client.post(url(BudgetAmount, "add"), {**data, "kind": "actual", "amount": "900"})
    assert saved.status_code == 302
    assert BudgetAmount.objects.get(budget=budget, month=7).amount == Decimal("900.00")


def test_a_position_opened_in_the_admin_is_open_and_cannot_be_marked_filled_by_hand(
    client, site_admin, planning
):
    client.force_login(site_admin)
    manager = UserFactory(username="mgr-new", role="manager")
    data = {
        "title": "Inside sales",
        "manager": manager.pk,
        "territory": "",
        "start_wanted": "2026-10-01",
        "monthly_quota": "",
        "ramp": "50,100",
    }
    added = client.post(url(Position, "add"), data)
    assert added.status_code == 302, added.context["adminform"].form.errors
    position = Position.objects.get(title="Inside sales")
    assert (position.status, position.ramp, position.created_by) == ("open", "50,100", site_admin)
    filled = client.post(
        url(Position, "change", position.pk),
        {**data, "manager": "", "status": "filled"},
    )
    assert filled.status_code == 200
    assert "hiring one of its applicants" in str(filled.context["adminform"].form.errors)
    position.refresh_from_db()
    assert position.status == "open"
