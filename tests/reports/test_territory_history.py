"""Past figures of a territory read each account's territory as it stood then, not where a later
realignment put it; live figures read the present one.

Times are offsets from T0, midnight 60 days ago.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.assignment import RuleSpec, TerritoryChange
from pipeline.models import Account, Deal
from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from pipeline.services.territories import realignment_run, realignment_start
from quotas.services import quota_set, territory_create
from reports.forecasts import FORECAST_FIELDS, HORIZONS, forecast
from reports.grouped import forecasts_as_of
from reports.metrics import funnel
from reports.models import ForecastSnapshot
from reports.runners.attainment import quota_attainment
from reports.services import forecasts_backfill
from tests.factories import AccountFactory, LostReasonFactory


@pytest.fixture
def t0():
    return start_of(timezone.localdate() - datetime.timedelta(days=60))


def _importer(admin, pipeline, t0):
    """A deal spec: ``moves`` are (stage, days after T0), the last one the deal's stage now."""

    def spec(
        name, owner, account, amount, moves, *, close_day, category="pipeline", lost_reason=None
    ):
        return DealSpec(
            name=name,
            account_id=account.pk,
            owner_id=owner.pk,
            pipeline_id=pipeline.pk,
            stage_id=moves[-1][0].pk,
            amount=Decimal(amount),
            currency="USD",
            expected_close_date=(t0 + datetime.timedelta(days=close_day)).date(),
            forecast_category=category,
            created_at=t0 + datetime.timedelta(days=moves[0][1]),
            lost_reason_id=lost_reason,
            transitions=[
                TransitionSpec(
                    to_stage_id=stage.pk, at=t0 + datetime.timedelta(days=day), by_id=owner.pk
                )
                for stage, day in moves
            ],
            changes=[],
        )

    return spec


@pytest.fixture
def two_territories(admin, manager, rep, rep2, pipeline, stages, t0):
    """World holds Alpha (rep's, with a German account) and Beta (rep2's, a French one); each rep has
    won, lost and open deals over the last 60 days and a quota over them."""
    world = territory_create(name="World", by=admin)
    alpha = territory_create(name="Alpha", parent=world, reps=[rep], by=admin)
    beta = territory_create(name="Beta", parent=world, reps=[rep2], by=admin)
    german = AccountFactory(owner=rep, territory=alpha, country="DE", name="Berlin GmbH")
    french = AccountFactory(owner=rep2, territory=beta, country="FR", name="Paris SA")
    q, d, p = stages["Qualification"], stages["Discovery"], stages["Proposal"]
    won, lost = stages["Won"], stages["Lost"]
    spec = _importer(admin, pipeline, t0)
    reason = LostReasonFactory(name="Price").pk
    deals_import(
        specs=[
            spec("W1", rep, german, "1000", [(q, 0), (d, 2), (won, 10)], close_day=12),
            spec("L1", rep, german, "500", [(q, 1), (lost, 6)], close_day=12, lost_reason=reason),
            spec("O1", rep, german, "2000", [(q, 1), (d, 4)], close_day=40, category="commit"),
            spec("O2", rep, german, "300", [(q, 2)], close_day=25),
            spec("W3", rep, german, "800", [(q, 1), (p, 20), (won, 50)], close_day=45),
            spec("W2", rep2, french, "4000", [(q, 0), (won, 20)], close_day=20),
            spec("O3", rep2, french, "700", [(q, 3), (p, 9)], close_day=30, category="best_case"),
        ],
        by=admin,
    )
    first = t0.date()
    for owner in (rep, rep2):
        quota_set(
            owner=owner,
            period_start=first,
            period_end=first + datetime.timedelta(days=89),
            target=Decimal("9000.00"),
            period="custom",
        )
    return {"world": world, "alpha": alpha, "beta": beta, "german": german, "french": french}


def _realign_germany_to_beta(admin, beta):
    """A rule gives Beta the German accounts: the account and its open deals go to Beta's only rep."""
    change = TerritoryChange(
        territory_id=beta.pk, rules=(RuleSpec(territory_id=beta.pk, priority=1, countries=("DE",)),)
    )
    return realignment_run(job_id=realignment_start(by=admin, changes=[change]).pk)


def _past_figures(
    scopes: list[Scope], days: list[datetime.date], now: datetime.datetime, t0
) -> dict:
    """Every past as-of forecast (per scope and grouped), funnel and attainment of ``scopes``."""
    figures = {}
    for day in days:
        grouped = forecasts_as_of(scopes, as_of=day, now=now)
        for scope in scopes:
            alone = [forecast(scope, day, horizon, now=now) for horizon in HORIZONS]
            figures[("forecast", scope.key, day)] = [
                [f[name] for name in FORECAST_FIELDS] for f in alone
            ]
            figures[("grouped", scope.key, day)] = [
                [f[name] for name in FORECAST_FIELDS] for f in grouped[scope.key]
            ]
            figures[("funnel", scope.key, day)] = funnel(
                scope, Period(t0.date(), day), as_of=start_of(day)
            )
    for scope in scopes:
        window = {"past": Period(t0.date(), t0.date() + datetime.timedelta(days=55))}
        figures[("attainment", scope.key)] = quota_attainment(scope.quota_owner_filter(), window)
    return figures


def test_a_realignment_leaves_past_figures_of_territories_and_reps_as_they_were(
    admin, rep, rep2, two_territories, t0
):
    alpha, beta, world = two_territories["alpha"], two_territories["beta"], two_territories["world"]
    scopes = [Scope(territory=alpha.pk), Scope(territory=beta.pk), Scope(territory=world.pk),
              Scope(owner=rep.pk), Scope(owner=rep2.pk), Scope()]  # fmt: skip
    days = [(t0 + datetime.timedelta(days=n)).date() for n in (15, 30, 45)]
    now = timezone.now()
    before = _past_figures(scopes, days, now, t0)
    # The past figures are the ones worked out by hand: 45 days ago Alpha held O1 (2,000, commit)
    # and O2 (300) closing inside 30 days, Beta O3 (700) and W2 (4,000, not yet won); Alpha's 90-day
    # window has since won W3 (800).
    alpha_30 = forecast(Scope(territory=alpha.pk), days[0], 30, now=now)
    assert (alpha_30["pipeline"], alpha_30["commit"]) == (Decimal("2300.00"), Decimal("2000.00"))
    assert forecast(Scope(territory=beta.pk), days[0], 30, now=now)["pipeline"] == Decimal(
        "4700.00"
    )
    assert forecast(Scope(territory=alpha.pk), days[0], 90, now=now)["won_in_window"] == Decimal(
        "800.00"
    )
    assert before[("funnel", Scope(territory=alpha.pk).key, days[1])]["won_value"] == Decimal(
        "1000.00"
    )
    live_before = {
        scope.key: (forecast(scope, timezone.localdate(now), 90)["overdue_value"], funnel(scope, Period.default())["open_deals"])
        for scope in scopes
    }  # fmt: skip

    job = _realign_germany_to_beta(admin, beta)

    german = Account.objects.get(pk=two_territories["german"].pk)
    assert (job.status, german.territory_id, german.owner_id) == ("done", beta.pk, rep2.pk)
    assert set(
        Deal.objects.filter(status="open", account=german).values_list("owner_id", flat=True)
    ) == {rep2.pk}
    assert set(
        Deal.objects.filter(status="won", account=german).values_list("owner_id", flat=True)
    ) == {rep.pk}
    after = _past_figures(scopes, days, now, t0)
    changed = [key for key in before if before[key] != after[key]]
    assert changed == []
    for day in days:
        for scope in scopes:
            assert after[("grouped", scope.key, day)] == after[("forecast", scope.key, day)]
    live_after = {
        scope.key: (forecast(scope, timezone.localdate(), 90)["overdue_value"], funnel(scope, Period.default())["open_deals"])
        for scope in scopes
    }  # fmt: skip
    # Today O1 and O2 (overdue, 2,300) are Beta's and rep2's, beside O3 (700); the world and the
    # organisation keep them.
    assert live_before[Scope(territory=alpha.pk).key] == (Decimal("2300.00"), 2)
    assert live_after[Scope(territory=alpha.pk).key] == (Decimal("0.00"), 0)
    assert live_after[Scope(territory=beta.pk).key] == (Decimal("3000.00"), 3)
    assert live_after[Scope(owner=rep2.pk).key] == (Decimal("3000.00"), 3)
    assert live_after[Scope(owner=rep.pk).key] == (Decimal("0.00"), 0)
    for unmoved in (Scope(territory=world.pk), Scope()):
        assert live_after[unmoved.key] == live_before[unmoved.key]


def _history_rows(account: Account, moves: list[tuple[datetime.datetime, int]]) -> None:
    """Rewrite ``account``'s history: created at the first moment in the first territory, then moved
    at each later moment; the account lies in the last one now."""
    history = Account.history.model
    history.objects.filter(id=account.pk).delete()
    values = {f.attname: getattr(account, f.attname) for f in Account._meta.concrete_fields}
    for index, (at, territory_id) in enumerate(moves):
        history.objects.create(
            **{**values, "territory_id": territory_id},
            history_date=at,
            history_type="+" if index == 0 else "~",
        )
    Account.objects.filter(pk=account.pk).update(territory_id=moves[-1][1])


def test_an_account_that_changed_territory_twice_counts_in_each_one_on_its_dates(
    admin, rep, pipeline, stages, t0
):
    alpha = territory_create(name="Alpha", reps=[rep], by=admin)
    beta = territory_create(name="Beta", reps=[rep], by=admin)
    gamma = territory_create(name="Gamma", reps=[rep], by=admin)
    account = AccountFactory(owner=rep, territory=alpha, name="Wanderer Ltd")
    steady = AccountFactory(owner=rep, territory=beta, name="Steady Inc")
    day = lambda n: t0 + datetime.timedelta(days=n)  # noqa: E731
    _history_rows(account, [(day(-30), alpha.pk), (day(20), beta.pk), (day(40), gamma.pk)])
    q, won = stages["Qualification"], stages["Won"]
    spec = _importer(admin, pipeline, t0)
    deals_import(
        specs=[
            spec("won in Alpha", rep, account, "100", [(q, 0), (won, 10)], close_day=10),
            spec("won in Beta", rep, account, "200", [(q, 0), (won, 30)], close_day=30),
            spec("won in Gamma", rep, account, "400", [(q, 0), (won, 50)], close_day=50),
            spec("open", rep, account, "1000", [(q, 0)], close_day=70),
            spec("steady", rep, steady, "7", [(q, 0)], close_day=70),
        ],
        by=admin,
    )
    territories = {"alpha": alpha, "beta": beta, "gamma": gamma}
    scopes = [Scope(territory=t.pk) for t in territories.values()]
    now = timezone.now()
    # (days after T0, the territory the account was in then)
    for offset, holder in ((5, "alpha"), (25, "beta"), (45, "gamma")):
        moment = day(offset)
        grouped = forecasts_as_of(scopes, as_of=moment.date(), now=now)
        for name, territory in territories.items():
            scope = Scope(territory=territory.pk)
            figures = funnel(scope, Period(t0.date(), moment.date()), as_of=moment)
            mine = name == holder
            steady_deals = 1 if name == "beta" else 0
            assert figures["open_deals"] == (4 - offset // 20 if mine else 0) + steady_deals, (
                offset,
                name,
            )
            assert figures["won_deals"] == (offset // 20 if mine else 0), (offset, name)
            alone = [forecast(scope, moment.date(), horizon, now=now) for horizon in HORIZONS]
            assert [[f[k] for k in FORECAST_FIELDS] for f in grouped[scope.key]] == [
                [f[k] for k in FORECAST_FIELDS] for f in alone
            ], (offset, name)
    # What was won since 35 days before today counts where each deal was won: Beta's at +30, Gamma's at +50.
    won = {
        name: forecast(Scope(territory=t.pk), day(25).date(), 30, now=now)["won_in_window"]
        for name, t in territories.items()
    }
    assert won == {"alpha": Decimal("0.00"), "beta": Decimal("200.00"), "gamma": Decimal("400.00")}
    # The backfill writes the same, and the matured window's actual counts each win where it was won.
    forecasts_backfill(start=day(25).date(), end=day(25).date(), scopes=scopes)
    matured = {
        row.scope_key: (row.won_in_window, row.actual)
        for row in ForecastSnapshot.objects.filter(as_of=day(25).date(), horizon=30)
    }
    assert matured == {
        Scope(territory=t.pk).key: (won[name], won[name]) for name, t in territories.items()
    }
    # Live figures read the present territory: every open deal of the account is Gamma's now.
    assert funnel(Scope(territory=gamma.pk), Period.default())["open_deals"] == 1
    assert funnel(Scope(territory=alpha.pk), Period.default())["open_deals"] == 0


def test_an_account_without_history_lies_where_it_is_and_one_recorded_later_where_it_began(
    admin, rep, pipeline, stages, t0
):
    alpha = territory_create(name="Alpha", reps=[rep], by=admin)
    beta = territory_create(name="Beta", reps=[rep], by=admin)
    bulk = AccountFactory(owner=rep, territory=alpha, name="Bulk Loaded")
    Account.history.filter(id=bulk.pk).delete()
    late = AccountFactory(owner=rep, territory=alpha, name="Recorded Late")
    # Moved today: its first history row (created today, in Alpha) comes after the deal's past.
    Account.history.model.objects.create(
        **{
            f.attname: getattr(late, f.attname)
            for f in Account._meta.concrete_fields
            if f.attname != "territory_id"
        },
        territory_id=beta.pk,
        history_date=timezone.now(),
        history_type="~",
    )
    Account.objects.filter(pk=late.pk).update(territory_id=beta.pk)
    spec = _importer(admin, pipeline, t0)
    q = stages["Qualification"]
    deals_import(
        specs=[spec("bulk", rep, bulk, "10", [(q, 0)], close_day=70), spec("late", rep, late, "20", [(q, 0)], close_day=70)],
        by=admin,
    )  # fmt: skip
    moment = t0 + datetime.timedelta(days=5)
    period = Period(t0.date(), moment.date())
    assert funnel(Scope(territory=alpha.pk), period, as_of=moment)["open_value"] == Decimal("30.00")
    assert funnel(Scope(territory=beta.pk), period, as_of=moment)["open_value"] == Decimal("0.00")
    assert funnel(Scope(territory=beta.pk), Period.default())["open_value"] == Decimal("20.00")
