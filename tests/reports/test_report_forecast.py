"""The forecast report: 30/60/90 days per rep and team by category and model, against quota, and the
change since last week.

T is today; deals are created 30 days ago unless said, in USD.

rep:
- D1 commit 1,000 closing T+10.
- D2 best case 2,000 closing T+40.
- D3 pipeline 500 closing T+5, created T-3 (after a week ago).
- D4 commit 800 closing T+20, re-valued from 600 on T-5.
- D5 omitted 300 closing T+5: never counted.
- D6 commit 700, its close moved from T+10 to T+70 on T-2.
- D7 commit 900 closing T+3, won on T-1.
rep2: E commit 400 EUR (1.10: 440) closing T+15.
outsider (another team): O commit 9,999 closing T+10.

rep today (windows from T): commit 1,800 / 1,800 / 2,500; best case 1,800 / 3,800 / 4,500;
pipeline 2,300 / 4,300 / 5,000.
rep a week ago (windows from T-7; D1 1,000, D2 2,000, D4 600, D6 700 at T+10, D7 900):
commit 3,200 / 3,200 / 3,200; best case 3,200 / 5,200 / 5,200; pipeline 3,200 / 5,200 / 5,200.
Quotas: rep 9,000 over T..T+89 (3,000 / 6,000 / 9,000), rep2 1,500 over T..T+29 (1,500 in each);
the manager's team rolls them up (4,500 / 7,500 / 10,500).
"""

import csv
import datetime
import io
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from openpyxl import load_workbook

from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from pipeline.services.imports import ChangeSpec, DealSpec, TransitionSpec, deals_import
from pipeline.services.rates import exchange_rate_create
from quotas.services import quota_set
from reports.catalog import forecast as forecast_report
from reports.catalog.forecast import category_sums
from reports.services import snapshots_compute
from tests.factories import AccountFactory

URL = "/reports/forecast/"
D = Decimal


def _history(admin, rep, rep2, outsider, pipeline, stages):
    today = timezone.localdate()

    def ago(days):
        return start_of(today - datetime.timedelta(days=days)) + datetime.timedelta(hours=9)

    def day(n):
        return today + datetime.timedelta(days=n)

    accounts = {p.pk: AccountFactory(owner=p) for p in (rep, rep2, outsider)}
    q, won = stages["Qualification"], stages["Won"]

    def spec(
        name,
        owner,
        amount,
        close,
        category,
        *,
        stage=q,
        moves=(),
        changes=(),
        created=30,
        currency="USD",
    ):
        return DealSpec(
            name=name,
            account_id=accounts[owner.pk].pk,
            owner_id=owner.pk,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            amount=D(amount),
            currency=currency,
            expected_close_date=day(close),
            forecast_category=category,
            created_at=ago(created),
            lost_reason_id=None,
            transitions=[TransitionSpec(to_stage_id=q.pk, at=ago(created), by_id=owner.pk)]
            + [TransitionSpec(to_stage_id=s.pk, at=ago(n), by_id=owner.pk) for s, n in moves],
            changes=[ChangeSpec(field, value, ago(n)) for field, value, n in changes],
        )

    deals_import(
        specs=[
            spec("D1", rep, "1000", 10, "commit"),
            spec("D2", rep, "2000", 40, "best_case"),
            spec("D3", rep, "500", 5, "pipeline", created=3),
            spec(
                "D4",
                rep,
                "800",
                20,
                "commit",
                changes=[("amount", D("600"), 30), ("amount", D("800"), 5)],
            ),
            spec("D5", rep, "300", 5, "omitted"),
            spec(
                "D6",
                rep,
                "700",
                70,
                "commit",
                changes=[("expected_close_date", day(10), 30), ("expected_close_date", day(70), 2)],
            ),
            spec("D7", rep, "900", 3, "commit", stage=won, moves=[(won, 1)]),
            spec("E", rep2, "400", 15, "commit", currency="EUR"),
            spec("O", outsider, "9999", 10, "commit"),
        ],
        by=admin,
    )


@pytest.fixture
def history(admin, rep, rep2, outsider, pipeline, stages):
    today = timezone.localdate()
    exchange_rate_create(
        currency="EUR", valid_from=datetime.date(2000, 1, 1), rate=D("1.1"), by=admin
    )
    quota_set(
        owner=rep,
        period_start=today,
        period_end=today + datetime.timedelta(days=89),
        target=D("9000"),
    )
    quota_set(
        owner=rep2,
        period_start=today,
        period_end=today + datetime.timedelta(days=29),
        target=D("1500"),
    )
    _history(admin, rep, rep2, outsider, pipeline, stages)


def _figures(row, *keys):
    return tuple(row[key] for key in keys)


def test_the_reps_rows_hold_the_hand_worked_figures(client, manager, rep, rep2, history):
    client.force_login(manager)
    response = client.get(URL)
    assert response.status_code == 200
    result = response.context["result"]
    rows = {row["rep"]: row for row in result.rows}
    assert set(rows) == {rep.display_name, rep2.display_name}
    mine = rows[rep.display_name]
    assert _figures(mine, "commit_30", "commit_60", "commit_90") == (
        D("1800.00"),
        D("1800.00"),
        D("2500.00"),
    )
    assert _figures(mine, "best_case_30", "best_case_60", "best_case_90") == (
        D("1800"),
        D("3800"),
        D("4500"),
    )
    assert _figures(mine, "pipeline_30", "pipeline_60", "pipeline_90") == (
        D("2300"),
        D("4300"),
        D("5000"),
    )
    assert _figures(mine, "commit_30_change", "commit_60_change", "commit_90_change") == (
        D("-1400"),
        D("-1400"),
        D("-700"),
    )
    assert _figures(mine, "best_case_30_change", "best_case_60_change", "best_case_90_change") == (
        D("-1400"),
        D("-1400"),
        D("-700"),
    )
    assert _figures(mine, "pipeline_30_change", "pipeline_60_change", "pipeline_90_change") == (
        D("-900"),
        D("-900"),
        D("-200"),
    )
    assert _figures(mine, "quota_30", "quota_60", "quota_90") == (
        D("3000.00"),
        D("6000.00"),
        D("9000.00"),
    )
    theirs = rows[rep2.display_name]
    assert _figures(theirs, "commit_30", "best_case_60", "pipeline_90", "commit_30_change") == (
        D("440.00"),
        D("440.00"),
        D("440.00"),
        D("0.00"),
    )
    assert _figures(theirs, "quota_30", "quota_60", "quota_90") == (D("1500.00"),) * 3
    # No rep snapshot yet: no model per rep.
    assert mine["model_30"] is None and any(
        "per rep where the nightly" in note for note in result.notes
    )


def test_the_team_row_adds_up_the_reps_and_carries_the_teams_model_and_quota(
    client, manager, history
):
    client.force_login(manager)
    result = client.get(URL).context["result"]
    team = result.totals
    assert _figures(team, "commit_30", "best_case_60", "pipeline_90") == (
        D("2240.00"),
        D("4240.00"),
        D("5440.00"),
    )
    assert team["commit_90_change"] == D("-700.00")
    assert _figures(team, "quota_30", "quota_60", "quota_90") == (
        D("4500.00"),
        D("7500.00"),
        D("10500.00"),
    )
    # No snapshot of the team yet: no model, and a note that says when it comes.
    assert all(team[f"model_{h}"] is None for h in (30, 60, 90))
    assert any("once this scope's forecast snapshot" in note for note in result.notes)
    chart = result.charts[0].figure
    commit = next(trace for trace in chart["data"] if trace["name"] == "Commit")
    assert commit["y"] == [2240.0, 2240.0, 2940.0]


def test_a_reps_model_comes_from_the_reps_snapshot(client, manager, rep, rep2, history):
    snapshots_compute(scopes=[Scope(owner=rep.pk), Scope(owner=rep2.pk), Scope(team=manager.pk)])
    from reports.models import ForecastSnapshot

    stored = ForecastSnapshot.objects.get(scope_key=Scope(owner=rep.pk).key, horizon=60)
    teams = ForecastSnapshot.objects.get(scope_key=Scope(team=manager.pk).key, horizon=90)
    client.force_login(manager)
    result = client.get(URL).context["result"]
    row = next(row for row in result.rows if row["rep"] == rep.display_name)
    assert row["model_60"] == stored.model
    assert result.totals["model_90"] == teams.model and result.totals["model_90_change"] is None
    model = next(
        trace for trace in result.charts[0].figure["data"] if trace["name"] == "Model (P10-P90)"
    )
    assert model["y"][2] == float(teams.model)
    assert row["model_60_change"] is None  # no snapshot from a week ago
    assert not any("per rep where the nightly" in note for note in result.notes)


def test_a_pipeline_pick_shows_the_model_for_the_scope_only(client, admin, pipeline, history):
    client.force_login(admin)
    result = client.get(URL + f"?scope=pipeline&scope_id={pipeline.pk}").context["result"]
    assert all(row["model_30"] is None for row in result.rows)
    assert any("for the whole scope only" in note for note in result.notes)
    assert result.totals["quota_30"] is None


@pytest.mark.parametrize(
    "who, people",
    [
        ("manager", {"rep", "rep2"}),
        ("other_manager", {"outsider"}),
        ("rep", {"rep"}),
        ("rep2", {"rep2"}),
        ("outsider", {"outsider"}),
    ],
)
def test_each_role_sees_only_its_people(client, request, history, who, people):
    client.force_login(request.getfixturevalue(who))
    response = client.get(URL)
    assert response.status_code == 200
    shown = {row["rep"] for row in response.context["result"].rows}
    assert shown == {request.getfixturevalue(name).display_name for name in people}


def test_the_admin_sees_every_rep(client, admin, rep, rep2, outsider, history):
    client.force_login(admin)
    result = client.get(URL).context["result"]
    assert {row["rep"] for row in result.rows} == {
        rep.display_name,
        rep2.display_name,
        outsider.display_name,
    }
    assert result.totals["commit_30"] == D("12239.00")


# Session, user, two grouped sums, people, names, quotas, snapshots, the team's quota per horizon
# and the picker's choices.
QUERIES = 13


def test_the_query_count_stays_the_same_with_twice_the_rows(
    client,
    admin,
    manager,
    rep,
    rep2,
    outsider,
    pipeline,
    stages,
    history,
    django_assert_num_queries,
):
    client.force_login(manager)
    client.get(URL)
    with django_assert_num_queries(QUERIES):
        first = client.get(URL)
    _history(admin, rep, rep2, outsider, pipeline, stages)
    client.get(URL)
    with django_assert_num_queries(QUERIES):
        second = client.get(URL)
    assert (
        second.context["result"].totals["commit_30"]
        == 2 * first.context["result"].totals["commit_30"]
    )


def test_the_exports_hold_the_table(client, manager, rep, history):
    client.force_login(manager)
    text = b"".join(client.get(URL + "export.csv").streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Rep", "Commit 30d", "Commit 30d, change", "Best case 30d"]
    assert len(rows[0]) == 1 + 3 * 9
    mine = next(row for row in rows if row[0] == rep.display_name)
    assert mine[1:3] == ["1800.00", "-1400.00"]
    assert rows[-1][0] == "Team" and rows[-1][1] == "2240.00"
    sheet = load_workbook(
        io.BytesIO(b"".join(client.get(URL + "export.xlsx").streaming_content))
    ).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    mine = next(row for row in values if row[0] == rep.display_name)
    assert mine[1:3] == [1800.0, -1400.0]


def test_deals_without_a_rate_are_counted_apart_per_window_and_left_out_of_the_sums(
    client, admin, manager, rep2, pipeline, stages, history
):
    account = AccountFactory(owner=rep2)
    q = stages["Qualification"]
    today = timezone.localdate()
    deals_import(
        specs=[
            DealSpec(
                name=name,
                account_id=account.pk,
                owner_id=rep2.pk,
                pipeline_id=pipeline.pk,
                stage_id=q.pk,
                amount=D("5000"),
                currency="JPY",  # no rate
                expected_close_date=today + datetime.timedelta(days=close),
                forecast_category=category,
                created_at=start_of(today - datetime.timedelta(days=30)),
                lost_reason_id=None,
                transitions=[
                    TransitionSpec(
                        to_stage_id=q.pk,
                        at=start_of(today - datetime.timedelta(days=30)),
                        by_id=rep2.pk,
                    )
                ],
                changes=[],
            )
            for name, close, category in (
                ("Y1", 15, "commit"),
                ("Y2", 45, "best_case"),
                ("Y3", 20, "omitted"),
            )
        ],
        by=admin,
    )
    pick = Pick(kind="team", scope=Scope(team=manager.pk), period=Period.default(today))
    now, then = category_sums(pick, today)
    # Y1 in every window, Y2 from 60 days; the omitted one in none. A week ago the same three.
    for sums in (now, then):
        assert _figures(sums[rep2.pk], "unconverted_30", "unconverted_60", "unconverted_90") == (
            1,
            2,
            2,
        )
    client.force_login(manager)
    result = client.get(URL).context["result"]
    theirs = {row["rep"]: row for row in result.rows}[rep2.display_name]
    # Only E's 440 (400 EUR at 1.10) is summed.
    assert _figures(theirs, "commit_30", "best_case_60", "pipeline_90") == (D("440.00"),) * 3
    assert any("no exchange rate" in note for note in result.notes)


@pytest.mark.django_db(transaction=True)
def test_a_week_agos_sums_read_beside_todays_are_the_same(manager, history, monkeypatch):
    """Outside a transaction on PostgreSQL a week ago's sums are read on a thread and connection
    of their own while today's are read: the same figures as one after the other."""
    today = timezone.localdate()
    pick = Pick(kind="team", scope=Scope(team=manager.pk), period=Period.default(today))
    threads = []
    sums_by_owner = forecast_report._sums_by_owner
    monkeypatch.setattr(
        forecast_report,
        "_sums_by_owner",
        lambda *args: threads.append(threading.get_ident()) or sums_by_owner(*args),
    )
    beside = category_sums(pick, today)
    with transaction.atomic():
        alone = category_sums(pick, today)

    assert beside == alone and beside[0] and beside[1]
    main = threading.get_ident()
    assert sum(thread != main for thread in threads[:2]) == (connection.vendor == "postgresql")
    assert threads[2:] == [main, main]
