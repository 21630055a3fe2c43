"""Compensation pages: who sees what, the payroll export and its audit event, fixed query counts."""

import csv
import datetime
import io
import zipfile
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.compensation.models import CommissionPlan, CommissionStatement
from reports.compensation.services import plan_create, statement_compute
from salesmgr.audit.models import AuditEvent
from tests.factories import DealFactory, UserFactory
from tests.reports.comp_helpers import month_quota, won

MARCH = datetime.date(2026, 3, 1)
WHO = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]


@pytest.fixture
def cast(admin, manager, rep, rep2, other_manager, outsider, pipeline, stages):
    for person in (rep, rep2, outsider):
        plan_create(
            by=admin,
            rep=person,
            name=f"Plan {person.username}",
            effective_from=datetime.date(2026, 1, 1),
            flat_rate=Decimal("10"),
            base_salary=Decimal("48000"),
        )
    month_quota(rep, MARCH, "10000")
    won(rep, pipeline, stages, "4000", datetime.date(2026, 3, 5), name="Rep's win")
    return {
        person.username: statement_compute(
            rep=person, month=MARCH, as_of=datetime.date(2026, 3, 31), by=admin
        )
        for person in (rep, rep2, outsider)
    }


def _login(client, request, who):
    if who:
        client.force_login(request.getfixturevalue(who))
    return client


@pytest.mark.parametrize(
    "who, code, shown",
    [
        ("admin", 200, {"Riley Rep", "Robin Rep", "Olive Outsider"}),
        ("manager", 200, {"Riley Rep", "Robin Rep"}),
        ("other_manager", 200, {"Olive Outsider"}),
        ("rep", 200, set()),
        ("outsider", 200, set()),
    ],
)
def test_the_statements_page_shows_the_team_for_a_month(request, client, cast, who, code, shown):
    page = _login(client, request, who).get("/compensation/?month=2026-03")
    assert page.status_code == code
    text = page.content.decode().split("data-statements", 1)[1]
    for name in {"Riley Rep", "Robin Rep", "Olive Outsider"}:
        assert (f">{name}<" in text) == (name in shown), name


def test_a_rep_sees_their_own_months(client, cast, rep):
    client.force_login(rep)
    text = client.get("/compensation/").content.decode()
    assert "March 2026" in text and "400.00" in text


@pytest.mark.parametrize(
    "who, code",
    [
        ("admin", 200),
        ("manager", 200),
        ("rep", 200),
        ("rep2", 404),
        ("other_manager", 404),
        ("outsider", 404),
        (None, 302),
    ],
)
def test_a_statement_page_follows_the_role_matrix(request, client, cast, who, code):
    answer = _login(client, request, who).get(f"/compensation/statements/{cast['rep'].pk}/")
    assert answer.status_code == code
    if code == 200:
        text = answer.content.decode()
        assert "Rep&#x27;s win" in text and "400.00" in text and "at 10%" in text


@pytest.mark.parametrize(
    "who, code",
    [("admin", 302), ("manager", 403), ("rep", 403), ("other_manager", 404), (None, 302)],
)
def test_only_admins_approve_from_the_page(request, client, cast, who, code):
    answer = _login(client, request, who).post(
        f"/compensation/statements/{cast['rep'].pk}/approve/"
    )
    assert answer.status_code == code
    approved = CommissionStatement.objects.get(pk=cast["rep"].pk).status == "approved"
    assert approved == (who == "admin")


@pytest.mark.parametrize(
    "who, code",
    [
        ("admin", 200),
        ("manager", 200),
        ("rep", 200),
        ("rep2", 404),
        ("other_manager", 404),
        (None, 302),
    ],
)
def test_what_if_page_for_the_rep(request, client, cast, rep, pipeline, who, code):
    hope = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("2500"), name="Hope")
    answer = _login(client, request, who).get(f"/compensation/what-if/?rep={rep.pk}&deal={hope.pk}")
    assert answer.status_code == code
    if code == 200:
        assert "Hope" in answer.content.decode()
        assert "If 1 more deal closes today" in answer.content.decode()


@pytest.mark.parametrize(
    "who, code", [("admin", 200), ("manager", 200), ("rep", 200), ("outsider", 200), (None, 302)]
)
def test_plans_page(request, client, cast, who, code):
    answer = _login(client, request, who).get("/compensation/plans/")
    assert answer.status_code == code
    if who == "rep":
        text = answer.content.decode()
        assert "Plan rep<" in text and "Plan rep2" not in text and "Add a plan" not in text


def test_admin_adds_a_plan_on_the_page_and_an_overlap_is_a_400(client, admin, manager):
    newcomer = UserFactory(username="newcomer", manager=manager)
    client.force_login(admin)
    body = {
        "rep": newcomer.pk,
        "name": "Tiered",
        "effective_from": "2026-01-01",
        "kind": "tiered",
        "tiers": "0:5, 100:8",
    }
    assert client.post("/compensation/plans/", body).status_code == 302
    again = client.post("/compensation/plans/", {**body, "effective_from": "2026-05-01"})
    assert again.status_code == 400 and "one plan per rep per period" in again.content.decode()
    assert CommissionPlan.objects.filter(rep=newcomer).count() == 1


@pytest.mark.parametrize("who", ["manager", "rep"])
def test_only_admins_add_plans(request, client, cast, who):
    answer = _login(client, request, who).post("/compensation/plans/", {"rep": 1})
    assert answer.status_code == 403


@pytest.mark.parametrize("who, code", [("admin", 200), ("manager", 403), ("rep", 403), (None, 302)])
def test_payroll_export_is_for_admins_and_audited(request, client, cast, who, code):
    answer = _login(client, request, who).get("/compensation/export.csv?month=2026-03")
    assert answer.status_code == code
    if code != 200:
        assert not AuditEvent.objects.filter(kind="export").exists()
        return
    rows = list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    riley = next(row for row in rows if row["Username"] == "rep")
    # Base 48,000 / 12 = 4,000.00; variable 4,000 x 10% = 400.00; payable 4,400.00
    assert (riley["Base pay"], riley["Variable pay"], riley["Payable"]) == (
        "4000.00",
        "400.00",
        "4400.00",
    )
    event = AuditEvent.objects.get(kind="export")
    assert event.details["what"] == "commission statements"


def test_payroll_xlsx(client, cast, admin):
    client.force_login(admin)
    answer = client.get("/compensation/export.xlsx?month=2026-03")
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content))) as book:
        assert "Riley Rep" in book.read("xl/worksheets/sheet1.xml").decode()


def test_a_bad_month_is_a_400(client, admin):
    client.force_login(admin)
    assert client.get("/compensation/?month=March").status_code == 400


def test_the_nav_links_to_commissions(client, rep):
    client.force_login(rep)
    assert 'href="/compensation/"' in client.get("/compensation/plans/").content.decode()


def _statements(manager, n, month):
    for _ in range(n):
        person = UserFactory(manager=manager)
        CommissionStatement.objects.create(
            rep=person, month=month, as_of=month, currency="USD", total=Decimal(1)
        )


@pytest.mark.parametrize("path", ["/compensation/?month=2026-05", "/compensation/plans/"])
def test_pages_take_the_same_queries_at_two_sizes(client, admin, manager, cast, path):
    counts = []
    for n in (2, 30):
        _statements(manager, n, datetime.date(2026, 5, 1))
        for person in UserFactory._meta.model.objects.filter(
            manager=manager, commission_plans__isnull=True
        )[:n]:
            plan_create(by=admin, rep=person, name="More", effective_from=datetime.date(2026, 1, 1))
        for user in (admin, manager):
            client.force_login(user)
            with CaptureQueriesContext(connection) as queries:
                assert client.get(path).status_code == 200
            counts.append(len(queries))
    assert counts[:2] == counts[2:], counts


@pytest.mark.parametrize("who, code", [("admin", 302), ("manager", 403), ("rep", 403), (None, 302)])
def test_only_admins_compute_a_month_from_the_page(request, client, cast, who, code):
    before = CommissionStatement.objects.count()
    answer = _login(client, request, who).post("/compensation/compute/", {"month": "2026-03"})
    assert answer.status_code == code
    # admin: a new version for each of the three reps with a plan
    assert CommissionStatement.objects.count() == before + (3 if who == "admin" else 0)
