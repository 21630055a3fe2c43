"""The grouped backfill: every scope's past forecasts from one pass per date, equal to each scope's own."""

import datetime
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.models import Deal
from pipeline.periods import start_of
from pipeline.scopes import Scope
from pipeline.services import deal_delete, deal_move, deal_reassign, deal_update
from pipeline.services.imports import ChangeSpec, DealSpec, TransitionSpec, deals_import
from pipeline.services.rates import exchange_rate_create
from quotas.models import Territory
from quotas.services import quota_set
from reports.forecasts import FORECAST_FIELDS, HORIZONS, forecast
from reports.grouped import forecasts_as_of
from reports.models import ForecastSnapshot
from reports.services import forecasts_backfill, standard_scopes
from tests.factories import AccountFactory, LostReasonFactory, PipelineFactory, UserFactory

OPEN = ("Qualification", "Discovery", "Proposal", "Negotiation")
# Days before today of the dates the forecasts are taken as of: early history, middle, recent.
AS_OF_DAYS_AGO = (210, 120, 61, 25, 6)


def _path(
    rng: random.Random, created: datetime.datetime, now: datetime.datetime
) -> list[tuple[str, datetime.datetime]]:
    """A deal's stage moves from its creation: forward one or two stages, lost, won, or back after a loss."""
    at, stage, reopened = created, 0, False
    moves = [(OPEN[0], at)]
    while True:
        at = at + datetime.timedelta(days=rng.uniform(0.5, 45))
        if at >= now - datetime.timedelta(hours=1):
            return moves
        roll = rng.random()
        if stage == "Lost":
            if reopened or roll < 0.5:
                return moves
            reopened, stage = True, 0
        elif roll < 0.2:
            stage = "Lost"
        elif roll < 0.3 or stage == len(OPEN) - 1:
            stage = "Won" if stage >= 2 or roll < 0.25 else stage + 1
        else:
            stage = min(len(OPEN) - 1, stage + (2 if roll > 0.9 else 1))
        moves.append((stage if isinstance(stage, str) else OPEN[stage], at))
        if stage == "Won":
            return moves


@pytest.fixture
def varied_world(admin, manager, rep, rep2, outsider, pipeline):
    """Two teams (one nested), territories in a tree, two pipelines, about 70 deals created over
    eleven months that move forward, skip, win, lose and come back, with amounts and close dates
    changed along the way; then, today, a reassignment, an edit, a win and a deletion."""
    lead = UserFactory(username="lead", role="manager", manager=manager)
    junior = UserFactory(username="junior", manager=lead)
    region = Territory.objects.create(name="EMEA")
    country = Territory.objects.create(name="DACH", parent=region)
    renewals = PipelineFactory(name="Renewals")
    stages = {(p.pk, stage.name): stage for p in (pipeline, renewals) for stage in p.stages.all()}
    reason = LostReasonFactory(name="Price")
    accounts = {
        rep: AccountFactory(owner=rep, territory=country),
        rep2: AccountFactory(owner=rep2, territory=region),
        junior: AccountFactory(owner=junior, territory=country),
        outsider: AccountFactory(owner=outsider),
        manager: AccountFactory(owner=manager, territory=region),
    }
    owners = [rep, rep, rep2, junior, outsider, manager]
    rng = random.Random(20261202)
    now = timezone.now()
    today = timezone.localdate(now)
    specs = []
    for n in range(72):
        owner = rng.choice(owners)
        deal_pipeline = pipeline if rng.random() < 0.7 else renewals
        created = start_of(
            today - datetime.timedelta(days=rng.randint(3, 330))
        ) + datetime.timedelta(hours=rng.randint(8, 18))
        moves = _path(rng, created, now)
        changes, amount = [], Decimal(rng.randint(50_000, 4_000_000)) / 100
        for _ in range(rng.randint(0, 2)):
            at = created + (now - created) * rng.random()
            if changes and at <= changes[-1].at:
                continue
            amount = Decimal(rng.randint(50_000, 4_000_000)) / 100
            changes.append(ChangeSpec("amount", amount, at))
        close = created.date() + datetime.timedelta(days=rng.randint(5, 120))
        closes = [ChangeSpec("expected_close_date", close, created)]
        if rng.random() < 0.5:
            close = close + datetime.timedelta(days=rng.randint(10, 60))
            closes.append(
                ChangeSpec("expected_close_date", close, created + (now - created) * rng.random())
            )
        last = moves[-1][0]
        specs.append(
            DealSpec(
                name=f"Deal {n}",
                account_id=accounts[owner].pk,
                owner_id=owner.pk,
                pipeline_id=deal_pipeline.pk,
                stage_id=stages[(deal_pipeline.pk, last)].pk,
                amount=amount,
                currency="USD",
                expected_close_date=close,
                forecast_category=rng.choice(["pipeline", "best_case", "commit", "omitted"]),
                created_at=created,
                lost_reason_id=reason.pk if last == "Lost" else None,
                transitions=[
                    TransitionSpec(
                        to_stage_id=stages[(deal_pipeline.pk, name)].pk,
                        at=at,
                        by_id=owner.pk,
                        lost_reason_id=reason.pk if name == "Lost" else None,
                    )
                    for name, at in moves
                ],
                changes=[*changes, *closes] if changes else closes,
            )
        )
    deals_import(specs=specs, by=admin)
    open_deals = list(Deal.objects.filter(status="open", owner=rep).order_by("pk"))
    assert len(open_deals) >= 3, "the world needs a few open deals of the rep to change today"
    deal_reassign(deal=open_deals[0], new_owner=outsider, by=admin, expected_version=None)
    # A deal the rep won long ago: its entries teach every past forecast of the rep's.
    won_early = Deal.objects.filter(status="won", owner=rep).order_by("closed_at").first()
    moved = deal_reassign(deal=won_early, new_owner=junior, by=admin, expected_version=None)
    deal_update(deal=open_deals[1], by=admin, expected_version=None, amount=Decimal("123456.78"))
    deal_move(
        deal=open_deals[2],
        to_stage=stages[(open_deals[2].pipeline_id, "Won")],
        by=admin,
        expected_version=open_deals[2].version,
    )
    deal_delete(
        deal=Deal.objects.filter(status="won").exclude(pk=open_deals[2].pk).first(), by=admin
    )
    for person, target in ((rep, "20000"), (junior, "9000"), (manager, "50000")):
        quota_set(
            owner=person,
            period_start=today - datetime.timedelta(days=150),
            period_end=today + datetime.timedelta(days=40),
            target=Decimal(target),
        )
    return {"lead": lead, "junior": junior, "region": region, "country": country, "renewals": renewals,
            "moved": moved}  # fmt: skip


def test_grouped_forecasts_as_of_a_past_date_equal_each_scopes_own(
    varied_world, manager, rep, outsider, pipeline
):
    scopes = [
        *standard_scopes(),
        Scope(team=manager.pk, pipeline=varied_world["renewals"].pk),
        Scope(team=varied_world["lead"].pk, territory=varied_world["region"].pk),
        Scope(owner=rep.pk, territory=varied_world["country"].pk),
        Scope(territory=varied_world["region"].pk, pipeline=pipeline.pk),
    ]
    now = timezone.now()
    models = []
    for days_ago in (*AS_OF_DAYS_AGO, 0):
        day = timezone.localdate(now) - datetime.timedelta(days=days_ago)
        results = forecasts_as_of(scopes, as_of=day, now=now)
        for scope in scopes:
            alone = [forecast(scope, day, horizon, now=now) for horizon in HORIZONS]
            assert results[scope.key] == alone, (day, scope.key)
        models.append(results["org"][2]["model"])
    # The figures are not all zeros, and they differ from one date to the next.
    assert len(set(models)) == len(models)
    assert all(model > 0 for model in models[1:])


def test_grouped_as_of_pass_runs_a_fixed_number_of_queries(varied_world, django_assert_num_queries):
    day = timezone.localdate() - datetime.timedelta(days=40)
    # Four grouped passes and two for the deals outside the reporting currency, the reporting
    # line and territory tree, the stages' probabilities, then each horizon's quota of the
    # organisation (one query).
    with django_assert_num_queries(12):
        forecasts_as_of([Scope()], as_of=day, now=timezone.now())


def test_backfill_writes_what_each_scope_computes_alone(varied_world, manager):
    today = timezone.localdate()
    start, end = today - datetime.timedelta(days=100), today - datetime.timedelta(days=40)
    scopes = [Scope(), Scope(team=manager.pk), Scope(team=varied_world["lead"].pk)]
    written = forecasts_backfill(start=start, end=end, scopes=scopes, every=20)
    assert written == 4 * len(scopes) * len(HORIZONS)
    for row in ForecastSnapshot.objects.all():
        direct = forecast(Scope.from_key(row.scope_key), row.as_of, row.horizon)
        assert {field: getattr(row, field) for field in FORECAST_FIELDS} == {
            field: direct[field] for field in FORECAST_FIELDS
        }, (row.scope_key, row.as_of, row.horizon)
    # The windows that have passed are matured.
    assert not ForecastSnapshot.objects.filter(as_of=start, actual__isnull=True).exists()


def test_grouped_forecasts_as_of_convert_and_list_deals_without_a_rate_as_each_scope_does(
    varied_world, admin, manager, rep
):
    """A third of the deals in EUR (a rate that changes over the history) and some in JPY (no rate):
    the grouped pass converts at the same dates and lists the same deals as left out."""
    today = timezone.localdate()
    ids = list(Deal.objects.order_by("pk").values_list("pk", flat=True))
    euro, yen = ids[::3], ids[1::7]
    for chosen, currency in ((euro, "EUR"), (yen, "JPY")):
        Deal.objects.filter(pk__in=chosen).update(currency=currency)
        Deal.history.filter(id__in=chosen).update(currency=currency)
    for days_ago, rate in ((400, "1.05"), (100, "1.10"), (30, "1.20")):
        exchange_rate_create(
            currency="EUR",
            valid_from=today - datetime.timedelta(days=days_ago),
            rate=Decimal(rate),
            by=admin,
        )
    scopes = [Scope(), Scope(team=manager.pk), Scope(owner=rep.pk)]
    now = timezone.now()
    left_out = 0
    for days_ago in (120, 61, 6, 0):
        day = today - datetime.timedelta(days=days_ago)
        results = forecasts_as_of(scopes, as_of=day, now=now)
        for scope in scopes:
            alone = [forecast(scope, day, horizon, now=now) for horizon in HORIZONS]
            assert results[scope.key] == alone, (day, scope.key)
        left_out += sum(len(result["unconverted"]) for result in results["org"])
    assert left_out > 0
