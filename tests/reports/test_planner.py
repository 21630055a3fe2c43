"""The quota planner: in-place cells with totals, copy, spread, CSV dry run and apply, and who may do what."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipeline.periods import start_of
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from quotas.models import ManagerTarget, Quota
from quotas.services import quota_set
from reports.runners.planner import QuotaPlanRunner, spread_targets
from tests.factories import AccountFactory, UserFactory

YEAR = 2026


@pytest.fixture
def signed_in(client):
    def make(user):
        client.force_login(user)
        return client

    return make


def _month(owner, month, target, year=YEAR):
    first = datetime.date(year, month, 1)
    last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    return quota_set(owner=owner, period_start=first, period_end=last, target=Decimal(target))


def _cell(client, owner, start, target, columns="month"):
    return client.post(
        reverse("quota-planner-cell"),
        {"owner": owner.pk, "start": start, "target": target, "year": YEAR, "columns": columns},
        HTTP_HX_REQUEST="true",
    )


def test_an_admin_sets_a_cell_and_gets_the_row_and_column_totals_back(signed_in, admin, rep, rep2):
    _month(rep, 1, "1000")
    _month(rep2, 2, "500")
    response = _cell(signed_in(admin), rep, "2026-02-01", "1,250.50")
    assert response.status_code == 200
    assert Quota.objects.get(owner=rep, period_start="2026-02-01").target == Decimal("1250.50")
    body = response.content.decode()
    assert f'id="row-total-{rep.pk}" class="num planner__total" hx-swap-oob="true">2,250.50' in body
    assert (
        'id="column-total-2026-02-01" class="num planner__total" hx-swap-oob="true">1,750.50'
        in body
    )
    assert 'id="grand-total" class="num planner__total" hx-swap-oob="true">2,750.50' in body


def test_a_bad_cell_is_refused_inline_and_writes_nothing(signed_in, admin, rep):
    response = _cell(signed_in(admin), rep, "2026-03-01", "-4")
    assert response.status_code == 422
    assert "A quota target cannot be negative." in response.content.decode()
    assert not Quota.objects.exists()


def test_a_cell_crossed_by_another_quota_names_the_overlap(signed_in, admin, rep):
    quota_set(
        owner=rep,
        period="quarter",
        period_start=datetime.date(2026, 4, 1),
        period_end=datetime.date(2026, 6, 30),
        target=Decimal("9000"),
    )
    grid = QuotaPlanRunner(admin, YEAR).run()
    row = next(r for r in grid["rows"] if r["owner_id"] == rep.pk)
    may = row["cells"][4]
    assert (may["value"], may["editable"]) == (Decimal("3065.93"), False)  # 9,000 x 31 / 91 days
    response = _cell(signed_in(admin), rep, "2026-05-01", "100")
    assert response.status_code == 422
    assert (
        "Riley Rep already has a quota for 2026-04-01 to 2026-06-30, which overlaps this period."
        in (response.content.decode())
    )
    quarters = QuotaPlanRunner(admin, YEAR, "quarter").run()
    row = next(r for r in quarters["rows"] if r["owner_id"] == rep.pk)
    assert (row["cells"][1]["value"], row["cells"][1]["editable"]) == (Decimal("9000.00"), True)


def test_emptying_a_cell_removes_its_quota(signed_in, admin, rep):
    _month(rep, 6, "700")
    assert _cell(signed_in(admin), rep, "2026-06-01", "").status_code == 200
    assert not Quota.objects.exists()


def test_managers_read_their_team_and_reps_themselves_but_neither_writes(
    signed_in, manager, rep, rep2, outsider
):
    _month(rep, 1, "1000")
    _month(outsider, 1, "4000")
    page = signed_in(manager).get(reverse("quota-planner"), {"year": YEAR})
    names = [row["name"] for row in page.context["grid"]["rows"]]
    assert sorted(names) == ["Morgan Manager", "Riley Rep", "Robin Rep"]
    assert 'name="target"' not in page.content.decode()
    assert _cell(signed_in(manager), rep, "2026-02-01", "10").status_code == 403
    mine = signed_in(rep).get(reverse("quota-planner"), {"year": YEAR})
    assert [row["name"] for row in mine.context["grid"]["rows"]] == ["Riley Rep"]
    assert _cell(signed_in(rep), rep, "2026-02-01", "10").status_code == 403
    assert Quota.objects.count() == 2


def test_a_manager_row_says_whether_the_team_target_is_rolled_up_or_their_own(
    signed_in, admin, manager, rep, rep2
):
    _month(rep, 1, "1000")
    _month(rep2, 1, "2000")
    _month(manager, 1, "5000")
    grid = QuotaPlanRunner(admin, YEAR).run()
    boss = next(r for r in grid["rows"] if r["owner_id"] == manager.pk)
    assert boss["team"][0]["amount"] == Decimal("5000.00")
    assert boss["basis_label"] == (
        "No choice made: their own quota in Jan; the roll-up of the team's quotas elsewhere"
    )
    signed_in(admin).post(
        reverse("quota-planner-basis"), {"manager": manager.pk, "basis": "rollup", "year": YEAR}
    )
    assert ManagerTarget.objects.get(manager=manager).basis == "rollup"
    boss = next(
        r for r in QuotaPlanRunner(admin, YEAR).run()["rows"] if r["owner_id"] == manager.pk
    )
    assert (boss["team"][0]["amount"], boss["basis_label"]) == (
        Decimal("3000.00"),
        "Roll-up of the team's quotas",
    )
    # Column totals count reps only: the manager's own 5,000 is not added to their reps' 3,000.
    assert QuotaPlanRunner(admin, YEAR).run()["column_totals"][0]["value"] == Decimal("3000.00")


def test_copy_from_the_previous_period_fills_only_empty_cells(signed_in, admin, rep, rep2):
    _month(rep, 2, "1000")
    _month(rep2, 2, "2000")
    _month(rep2, 3, "2500")
    signed_in(admin).post(reverse("quota-planner-copy"), {"start": "2026-03-01", "year": YEAR})
    assert Quota.objects.get(owner=rep, period_start="2026-03-01").target == Decimal("1000.00")
    assert Quota.objects.get(owner=rep2, period_start="2026-03-01").target == Decimal("2500.00")
    signed_in(admin).post(reverse("quota-planner-copy"), {"start": "2027-01-01", "year": 2027})
    assert not Quota.objects.filter(period_start__year=2027).exists()  # December was empty


def test_spreading_evenly_keeps_every_cent():
    shares = spread_targets(Decimal("100000.00"), None)
    assert shares[:11] == [Decimal("8333.33")] * 11 and shares[11] == Decimal("8333.37")
    assert sum(shares) == Decimal("100000.00")


def test_spreading_by_last_years_seasonality(signed_in, admin, rep, pipeline, stages):
    account = AccountFactory(owner=rep)
    won = stages["Won"]
    specs = []
    for month, amount in ((3, "1000"), (3, "1000"), (6, "4000"), (11, "2000")):
        at = start_of(datetime.date(YEAR - 1, month, 10))
        specs.append(
            DealSpec(
                name=f"Won {month} {amount}",
                account_id=account.pk,
                owner_id=rep.pk,
                pipeline_id=pipeline.pk,
                stage_id=won.pk,
                amount=Decimal(amount),
                currency="USD",
                expected_close_date=datetime.date(YEAR - 1, month, 10),
                forecast_category="commit",
                created_at=at - datetime.timedelta(days=5),
                lost_reason_id=None,
                transitions=[
                    TransitionSpec(
                        to_stage_id=stages["Qualification"].pk,
                        at=at - datetime.timedelta(days=5),
                        by_id=rep.pk,
                    ),
                    TransitionSpec(to_stage_id=won.pk, at=at, by_id=rep.pk),
                ],
                changes=[],
            )  # fmt: skip
        )
    deals_import(specs=specs, by=admin)
    signed_in(admin).post(
        reverse("quota-planner-spread"),
        {"owner": rep.pk, "target": "80000", "method": "seasonal", "year": YEAR},
    )
    targets = dict(Quota.objects.filter(owner=rep).values_list("period_start__month", "target"))
    # Won 2,000 of 8,000 in March, 4,000 in June, 2,000 in November.
    assert targets == {
        **{month: Decimal("0.00") for month in range(1, 13)},
        3: Decimal("20000.00"),
        6: Decimal("40000.00"),
        11: Decimal("20000.00"),
    }


def test_spreading_over_a_year_with_another_quota_shape_writes_nothing(signed_in, admin, rep):
    quota_set(
        owner=rep, period="quarter", period_start=datetime.date(2026, 4, 1),
        period_end=datetime.date(2026, 6, 30), target=Decimal("1"),
    )  # fmt: skip
    response = signed_in(admin).post(
        reverse("quota-planner-spread"),
        {"owner": rep.pk, "target": "1200", "method": "even", "year": YEAR},
        follow=True,
    )
    assert "overlaps this period" in response.content.decode()
    assert Quota.objects.count() == 1


def _upload(client, text, apply):
    return client.post(
        reverse("quota-planner-upload"),
        {
            "file": SimpleUploadedFile("quotas.csv", text.encode(), "text/csv"),
            "apply": "1" if apply else "0",
            "year": YEAR,
        },
    )


CSV_GOOD = "owner,period_start,period_end,period,target\nrep,2026-01-01,,month,1000\nrep2@example.com,2026-01-01,2026-03-31,,6000\n"


def test_a_csv_dry_run_reports_each_bad_row_by_number_and_writes_nothing(
    signed_in, admin, rep, rep2
):
    _month(rep, 2, "10")
    text = (
        CSV_GOOD
        + "ghost,2026-01-01,,month,5\nrep,2026-02-15,2026-02-20,,5\nrep2,2026-05-01,,,abc\n"
    )
    response = _upload(signed_in(admin), text, apply=True)
    assert response.status_code == 400
    errors = [(e.row, e.field) for e in response.context["upload"]["errors"]]
    assert errors == [(3, "owner"), (4, "period_start"), (5, "period_end"), (5, "target")]
    assert "2026-02-01 to 2026-02-28, which overlaps this period" in response.content.decode()
    assert Quota.objects.count() == 1


def test_a_clean_csv_dry_run_writes_nothing_and_the_apply_writes_every_row(
    signed_in, admin, rep, rep2
):
    client = signed_in(admin)
    checked = _upload(client, CSV_GOOD, apply=False)
    assert checked.context["upload"]["checked"] == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "dry_run": True,
    }
    assert not Quota.objects.exists()
    _upload(client, CSV_GOOD, apply=True)
    assert Quota.objects.count() == 2
    assert Quota.objects.get(owner=rep2).period_end == datetime.date(2026, 3, 31)


def test_a_csv_without_its_header_is_refused(signed_in, admin, rep):
    response = _upload(signed_in(admin), "rep,2026-01-01,,month,1000\n", apply=False)
    assert response.status_code == 400
    assert "The first line must name the columns" in response.content.decode()


def test_the_planner_page_costs_the_same_queries_whatever_the_number_of_people(
    signed_in, admin, manager, rep
):
    client = signed_in(admin)
    _month(rep, 1, "1")
    client.get(reverse("quota-planner"), {"year": YEAR})
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("quota-planner"), {"year": YEAR})
    for n in range(5):
        person = UserFactory(username=f"extra{n}", manager=manager)
        _month(person, 2, "5")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("quota-planner"), {"year": YEAR})
    assert len(many) == len(few)


def test_with_no_choice_the_basis_select_and_the_page_say_what_applies(
    signed_in, admin, manager, rep
):
    _month(rep, 1, "1000")
    _month(manager, 3, "5000")
    body = signed_in(admin).get(reverse("quota-planner"), {"year": YEAR}).content.decode()
    assert '<option value="" selected disabled>No choice made</option>' in body
    assert (
        '<option value="rollup" selected>' not in body
        and '<option value="own" selected>' not in body
    )
    assert (
        "No choice made: their own quota in Mar; the roll-up of the team&#x27;s quotas elsewhere"
        in body
    )
    assert (
        f'id="team-{manager.pk}-{YEAR}-03-01" class="num planner__team planner__team--own"' in body
    )
    assert (
        f'id="team-{manager.pk}-{YEAR}-01-01" class="num planner__team planner__team--rollup"'
        in body
    )

    signed_in(admin).post(
        reverse("quota-planner-basis"), {"manager": manager.pk, "basis": "own", "year": YEAR}
    )
    body = signed_in(admin).get(reverse("quota-planner"), {"year": YEAR}).content.decode()
    assert "No choice made" not in body
    assert '<option value="own" selected>Own quota</option>' in body
    assert f'data-testid="basis-{manager.pk}">Own quota</span>' in body


def test_a_manager_with_no_own_quota_and_no_choice_is_on_the_roll_up(admin, manager, rep):
    _month(rep, 1, "1000")
    boss = next(
        r for r in QuotaPlanRunner(admin, YEAR).run()["rows"] if r["owner_id"] == manager.pk
    )
    assert (boss["basis"], boss["basis_chosen"]) == ("", False)
    assert boss["basis_label"] == (
        "No choice made: the roll-up of the team's quotas (no own quota this year)"
    )


def test_the_basis_line_follows_a_cell_edit_out_of_band(signed_in, admin, manager, rep):
    _month(rep, 1, "1000")
    response = _cell(signed_in(admin), manager, f"{YEAR}-02-01", "700")
    body = response.content.decode()
    assert f'id="basis-now-{manager.pk}"' in body and 'hx-swap-oob="true"' in body
    assert "their own quota in Feb" in body
