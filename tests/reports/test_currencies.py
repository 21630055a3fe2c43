"""Money in one currency: every figure in the reporting currency (USD here), converted at dated rates.

Rates (one unit in USD), each from its date until the currency's next one:

- EUR 1.10 from 100 days ago, 1.20 from 30 days ago;
- GBP 1.25 from 100 days ago, 1.30 from 5 days ago;
- JPY none at all.

The rep's deals, times as offsets from T0 (midnight 60 days ago):

- W1: EUR 1,000 won at +10 (50 days ago: EUR 1.10) -> 1,100.00
- W2: GBP 2,000 won at +55 (5 days ago, the day GBP moves to 1.30) -> 2,600.00
- W3: USD 500 won at +20 -> 500.00
- J2: JPY 50,000 won at +30: no rate, left out
- O1: EUR 1,000 open in Proposal (60%), commit, closes in 10 days -> 1,200.00 today
- O2: GBP 400 open in Qualification (10%), closes in 20 days -> 520.00 today
- O3: USD 300 open in Discovery (30%), best case, closes in 40 days -> 300.00
- J1: JPY 100,000 open in Qualification, closes in 15 days: no rate, left out
"""

import datetime
from decimal import Decimal

import pytest
from django.db.models import Q
from django.utils import timezone

from pipeline.models import Deal, ExchangeRate
from pipeline.money import unconverted_notice
from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from pipeline.services import deal_update, exchange_rate_create
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from quotas.models import Quota
from reports import grouped
from reports.forecasts import forecast
from reports.metrics import funnel, series
from reports.models import DirtyScope, MetricSnapshot
from reports.runners.attainment import quota_attainment
from reports.runners.pipeline_by_stage import PipelineByStageRunner
from reports.services import forecasts_mature, snapshots_compute
from tests.factories import AccountFactory, DealFactory

D = Decimal


@pytest.fixture
def rates(admin):
    today = timezone.localdate()
    for currency, days_ago, rate in [
        ("EUR", 100, "1.10"),
        ("EUR", 30, "1.20"),
        ("GBP", 100, "1.25"),
        ("GBP", 5, "1.30"),
    ]:
        exchange_rate_create(
            currency=currency,
            valid_from=today - datetime.timedelta(days=days_ago),
            rate=D(rate),
            by=admin,
        )


@pytest.fixture
def world(admin, rep, pipeline, stages, rates):
    today = timezone.localdate()
    t0 = start_of(today - datetime.timedelta(days=60))
    account = AccountFactory(owner=rep)
    q, d, p, won = stages["Qualification"], stages["Discovery"], stages["Proposal"], stages["Won"]

    def at(days):
        return t0 + datetime.timedelta(days=days)

    def spec(name, currency, amount, stage, moves, *, close_in=30, category="pipeline"):
        return DealSpec(
            name=name,
            account_id=account.pk,
            owner_id=rep.pk,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            amount=D(amount),
            currency=currency,
            expected_close_date=today + datetime.timedelta(days=close_in),
            forecast_category=category,
            created_at=at(moves[0][1]),
            lost_reason_id=None,
            transitions=[
                TransitionSpec(to_stage_id=s.pk, at=at(t), by_id=rep.pk) for s, t in moves
            ],
            changes=[],
        )

    specs = [
        spec("W1", "EUR", "1000", won, [(q, 0), (won, 10)]),
        spec("W2", "GBP", "2000", won, [(q, 1), (won, 55)]),
        spec("W3", "USD", "500", won, [(q, 2), (won, 20)]),
        spec("J2", "JPY", "50000", won, [(q, 3), (won, 30)]),
        spec("O1", "EUR", "1000", p, [(q, 4), (p, 8)], close_in=10, category="commit"),
        spec("O2", "GBP", "400", q, [(q, 5)], close_in=20),
        spec("O3", "USD", "300", d, [(q, 6), (d, 9)], close_in=40, category="best_case"),
        spec("J1", "JPY", "100000", q, [(q, 7)], close_in=15),
    ]
    return dict(zip([s.name for s in specs], deals_import(specs=specs, by=admin), strict=True))


JPY_OPEN = {"currency": "JPY", "deals": 1, "value": D("100000.00")}
JPY_WON = {"currency": "JPY", "deals": 1, "value": D("50000.00")}


def test_won_value_converts_at_each_close_date_and_open_value_at_today(world, rep):
    figures = funnel(Scope(owner=rep.pk), Period.default())
    assert figures["won_deals"] == 4
    assert figures["won_value"] == D("4200.00")  # 1,100 + 2,600 + 500; JPY left out
    assert figures["avg_won_deal_size"] == D("1400.00")  # over the three deals that converted
    assert figures["open_deals"] == 4
    assert figures["open_value"] == D("2020.00")  # 1,200 + 520 + 300
    assert figures["avg_open_deal_size"] == D("673.33")
    by_stage = {stage["name"]: stage["open_value_now"] for stage in figures["stages"]}
    assert by_stage == {
        "Qualification": D("520.00"),
        "Discovery": D("300.00"),
        "Proposal": D("1200.00"),
        "Negotiation": D("0.00"),
    }
    assert figures["unconverted"] == [{"currency": "JPY", "deals": 2, "value": D("150000.00")}]


def test_a_deal_without_a_rate_is_named_in_the_notice_not_summed(world, rep):
    figures = funnel(Scope(owner=rep.pk), Period.default())
    assert unconverted_notice(figures["unconverted"]) == (
        "2 deals in JPY (JPY 150.0k) have no exchange rate to USD and are left out."
    )
    one = forecast(Scope(owner=rep.pk), timezone.localdate(), 30)
    assert unconverted_notice(one["unconverted"]) == (
        "1 deal in JPY (JPY 100.0k) has no exchange rate to USD and is left out."
    )


def test_a_rate_added_later_brings_the_deal_in_at_its_date(world, admin, rep):
    today = timezone.localdate()
    # A JPY rate from 40 days ago: the open deal converts today, the deal won 30 days ago too.
    exchange_rate_create(
        currency="JPY", valid_from=today - datetime.timedelta(days=40), rate=D("0.0065"), by=admin
    )
    figures = funnel(Scope(owner=rep.pk), Period.default())
    assert figures["open_value"] == D("2670.00")  # + 100,000 * 0.0065
    assert figures["won_value"] == D("4525.00")  # + 50,000 * 0.0065
    assert figures["unconverted"] == []


def test_forecasts_convert_open_deals_at_the_as_of_date(world, rep):
    today = timezone.localdate()
    thirty = forecast(Scope(owner=rep.pk), today, 30)
    assert (thirty["pipeline"], thirty["best_case"], thirty["commit"]) == (
        D("1720.00"),
        D("1200.00"),
        D("1200.00"),
    )
    assert thirty["weighted"] == D("772.00")  # 1,200 * 60% + 520 * 10%
    assert thirty["window_deals"] == 3
    assert thirty["unconverted"] == [JPY_OPEN]
    sixty = forecast(Scope(owner=rep.pk), today, 60)
    assert (sixty["pipeline"], sixty["best_case"], sixty["weighted"]) == (
        D("2020.00"),
        D("1500.00"),
        D("862.00"),
    )


def test_a_past_forecast_converts_at_the_rates_of_its_date(world, rep):
    # 40 days ago EUR was 1.10 and GBP 1.25; O1 (created at +4) and O2 (+5) were open then in Qualification.
    as_of = timezone.localdate() - datetime.timedelta(days=40)
    past = forecast(Scope(owner=rep.pk), as_of, 90)
    # Open then, closing inside the window that starts 40 days ago: O1, O2, O3 and J1 (their close dates
    # have not changed); W2 too (open until 5 days ago), J2 (won 30 days ago) was open at the moment as well.
    assert past["pipeline"] == D("1100.00") + D("500.00") + D("300.00") + D("2500.00")
    assert {item["currency"] for item in past["unconverted"]} == {"JPY"}


def test_won_in_window_and_the_matured_actual_convert_at_close_dates(world, rep):
    as_of = timezone.localdate() - datetime.timedelta(days=10)
    figures = forecast(Scope(owner=rep.pk), as_of, 30)
    assert figures["won_in_window"] == D("2600.00")  # W2 at GBP 1.30, its close date's rate


def test_series_sums_won_value_per_month_in_the_reporting_currency(world, rep):
    points = series(Scope(owner=rep.pk), Period.default(), "month")
    assert sum(point["won_value"] for point in points) == D("4200.00")


def test_quota_attainment_counts_won_value_at_close_date_rates(world, rep):
    today = timezone.localdate()
    Quota.objects.create(
        owner=rep,
        period_start=today - datetime.timedelta(days=60),
        period_end=today,
        target=D("8400"),
        period="custom",
    )
    window = Period(today - datetime.timedelta(days=60), today + datetime.timedelta(days=1))
    person = quota_attainment(Q(owner=rep), {"window": window})[rep.pk]["window"]
    assert person["won"] == D("4200.00")
    assert person["attainment"] == pytest.approx(0.5)


def test_pipeline_by_stage_converts_at_today(world, rep):
    rows = {
        row["stage__name"]: row["value"] for row in PipelineByStageRunner(Scope(owner=rep.pk)).run()
    }
    assert rows["Proposal"] == D("1200.00")
    assert rows["Qualification"] == D("520.00")  # JPY left out


def test_the_grouped_pass_equals_the_live_figures_with_currencies(world, rep, manager):
    now = timezone.now()
    scopes = [Scope(owner=rep.pk), Scope(team=manager.pk), Scope()]
    results = grouped.figures(scopes, period=Period.default(), now=now)
    for scope in scopes:
        assert results[scope.key]["funnel"] == funnel(scope, Period.default())
        for figures in results[scope.key]["forecasts"]:
            live = forecast(scope, figures["as_of"], figures["horizon"], now=now)
            assert figures == live


def test_snapshots_carry_the_notice(world, rep):
    key = Scope(owner=rep.pk).key
    snapshots_compute(scopes=[Scope(owner=rep.pk)])
    data = MetricSnapshot.objects.get(scope_key=key).data
    assert data["won_value"] == "4200.00"
    assert data["unconverted"] == [{"currency": "JPY", "deals": 2, "value": "150000.00"}]
    from reports.models import ForecastSnapshot

    stored = {
        row.horizon: row.unconverted for row in ForecastSnapshot.objects.filter(scope_key=key)
    }
    assert stored == {
        h: [{"currency": "JPY", "deals": 1, "value": "100000.00"}] for h in (30, 60, 90)
    }


def test_a_rate_change_marks_every_scope_stale(
    world, admin, rep, manager, django_capture_on_commit_callbacks
):
    DirtyScope.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        exchange_rate_create(
            currency="CHF", valid_from=timezone.localdate(), rate=D("1.12"), by=admin
        )
    marked = set(DirtyScope.objects.values_list("scope_key", flat=True))
    assert {"org", f"team={manager.pk}", f"owner={rep.pk}"} <= marked


def test_one_currency_sums_amounts_as_entered_in_the_same_queries(
    rep, pipeline, django_assert_max_num_queries
):
    DealFactory(owner=rep, pipeline=pipeline, amount=D("1234.56"))
    DealFactory(owner=rep, pipeline=pipeline, amount=D("10.04"))
    with django_assert_max_num_queries(5):
        figures = funnel(Scope(owner=rep.pk), Period.default())
    assert figures["open_value"] == D("1244.60")
    assert figures["unconverted"] == []
    assert not ExchangeRate.objects.exists()


def test_the_funnel_takes_one_more_query_only_when_a_deal_lacks_a_rate(
    world, rep, django_assert_num_queries
):
    with django_assert_num_queries(6):
        funnel(Scope(owner=rep.pk), Period.default())
    Deal.objects.filter(currency="JPY").delete()
    with django_assert_num_queries(5):
        funnel(Scope(owner=rep.pk), Period.default())


def test_matured_actuals_convert_at_close_dates(world, rep):
    from reports.models import ForecastSnapshot

    as_of = timezone.localdate() - datetime.timedelta(days=52)
    ForecastSnapshot.objects.create(
        scope_key=Scope(owner=rep.pk).key,
        scope_kind="owner",
        as_of=as_of,
        horizon=30,
        **dict.fromkeys(
            [
                "pipeline",
                "best_case",
                "commit",
                "weighted",
                "model",
                "model_p10",
                "model_p90",
                "overdue_value",
                "won_in_window",
            ],
            D("0"),
        ),  # fmt: skip
        computed_at=timezone.now(),
    )
    assert forecasts_mature() == 1
    # Won in [52 days ago, 22 days ago): W1 (EUR 1,000 at 1.10) and W3 (USD 500); J2 has no rate.
    assert ForecastSnapshot.objects.get().actual == D("1600.00")


def test_editing_a_deals_currency_moves_it_into_the_conversion(world, rep):
    deal = Deal.objects.get(pk=world["J1"])
    deal_update(deal=deal, by=rep, expected_version=deal.version, currency="EUR", amount=D("100"))
    figures = funnel(Scope(owner=rep.pk), Period.default())
    assert figures["open_value"] == D("2140.00")  # + EUR 100 at 1.20
    assert figures["unconverted"] == [JPY_WON]


def test_the_dashboard_says_its_currency_and_names_the_deals_left_out(world, client, manager):
    client.force_login(manager)
    page = client.get("/dashboard/").content.decode()
    assert "Amounts are in USD" in page
    assert (
        "Funnel: 2 deals in JPY (JPY 150.0k) have no exchange rate to USD and are left out." in page
    )
    assert (
        "Forecasts: 1 deal in JPY (JPY 100.0k) has no exchange rate to USD and is left out." in page
    )


def test_the_api_answers_carry_the_currency_and_the_notice(world, client_for, manager, rep):
    body = client_for(manager).get("/api/v1/metrics/funnel/", {"owner": rep.pk}).json()
    assert (body["currency"], body["won_value"]) == ("USD", "4200.00")
    assert body["unconverted"] == [{"currency": "JPY", "deals": 2, "value": "150000.00"}]
    assert body["unconverted_notice"].startswith("2 deals in JPY")
    forecasts = (
        client_for(manager).get("/api/v1/forecasts/", {"owner": rep.pk, "horizon": 30}).json()
    )
    (thirty,) = forecasts["forecasts"]
    assert (thirty["currency"], thirty["pipeline"]) == ("USD", "1720.00")
    assert thirty["unconverted"] == [{"currency": "JPY", "deals": 1, "value": "100000.00"}]


def test_the_deal_list_and_export_show_the_amount_in_the_reporting_currency(world, client, rep):
    import csv
    import io

    client.force_login(rep)
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(client.get("/deals/export.csv").streaming_content).decode())
        )
    )
    converted = {row["Deal"]: row["Amount in USD"] for row in rows}
    assert converted == {
        "W1": "1100.00",
        "W2": "2600.00",
        "W3": "500.00",
        "J2": "",
        "O1": "1200.00",
        "O2": "520.00",
        "O3": "300.00",
        "J1": "",
    }
    page = client.get("/deals/", {"period": "all"}).content.decode()
    assert "USD 1,200.00" in page or "USD 1200.00" in page
    assert "no USD rate" in page


def test_overdue_deals_rank_by_their_value_in_the_reporting_currency(rates, rep, pipeline):
    from reports.runners.attention import OverdueDealsRunner

    today = timezone.localdate()
    late = today - datetime.timedelta(days=3)
    for name, currency, amount in [
        ("dollars", "USD", "1100"),
        ("euros", "EUR", "1000"),
        ("yen", "JPY", "999999"),
    ]:
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            name=name,
            currency=currency,
            amount=D(amount),
            expected_close_date=late,
        )
    rows = OverdueDealsRunner(Scope(owner=rep.pk), today).run()["rows"]
    assert [(row.name, row.converted_amount) for row in rows] == [
        ("euros", D("1200.00")),
        ("dollars", D("1100.00")),
        ("yen", None),
    ]
