"""Snapshot tasks and services: idempotent writes, fan-out, debounced recompute, accuracy, backfill."""

import datetime
import os
import signal
import time
from collections import Counter
from decimal import Decimal

import pytest
from celery.signals import task_prerun
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from pipeline.models import Deal
from pipeline.periods import Period
from pipeline.scopes import Scope
from pipeline.services import deal_delete, deal_move, deal_reassign, deal_update
from pipeline.signals import deals_changed
from quotas.models import Territory
from quotas.services import quota_set
from reports.forecasts import FORECAST_FIELDS, HORIZONS, METHODS, forecast
from reports.grouped import figures as grouped_figures
from reports.metrics import funnel
from reports.models import DirtyScope, ForecastSnapshot, MetricSnapshot
from reports.selectors import accuracy_summary, matured_forecasts, metric_snapshot_for, scope_stale
from reports.services import (
    forecasts_mature,
    scope_snapshots_compute,
    scopes_dirty,
    scopes_mark_dirty,
    snapshots_compute,
    standard_scopes,
)
from reports.tasks import (
    RECOMPUTE_LOCK,
    RECOMPUTE_RUNNING,
    nightly_snapshots,
    recompute_dirty_scopes,
    snapshot_scope,
    snapshot_scopes,
)
from salesmgr.celery import app as celery_app
from tests.factories import (
    AccountFactory,
    DealFactory,
    LostReasonFactory,
    PipelineFactory,
    UserFactory,
)


@pytest.fixture
def eager(monkeypatch):
    """Run every task in this process, whatever the broker setting (CI has a real one)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_store_eager_result", True)


@pytest.fixture
def task_runs():
    """How many times each task started, counted from Celery's own signal."""
    runs = Counter()

    def count(sender=None, **kwargs):
        runs[sender.name] += 1

    task_prerun.connect(count, weak=False)
    yield runs
    task_prerun.disconnect(count)


def forecast_values(scope_key: str) -> dict:
    return {
        row.horizon: {field: getattr(row, field) for field in FORECAST_FIELDS}
        for row in ForecastSnapshot.objects.filter(scope_key=scope_key)
    }


def test_running_a_snapshot_twice_rewrites_the_same_rows(history, rep):
    key = Scope(owner=rep.pk).key
    snapshot_scope.apply(args=[key]).get()
    metric = MetricSnapshot.objects.get(scope_key=key)
    forecasts = forecast_values(key)
    forecast_times = dict(
        ForecastSnapshot.objects.filter(scope_key=key).values_list("horizon", "computed_at")
    )
    assert sorted(forecasts) == list(HORIZONS)
    assert Decimal(metric.data["open_value"]) == Decimal("2300.00")

    snapshot_scope.apply(args=[key]).get()

    assert MetricSnapshot.objects.count() == 1
    assert ForecastSnapshot.objects.count() == 3
    again = MetricSnapshot.objects.get(scope_key=key)
    assert again.pk == metric.pk
    assert again.data == metric.data
    assert again.computed_at > metric.computed_at
    # The model counts the history's span in fractional days up to the moment it runs, so a run a
    # few milliseconds later may move a model figure by a cent; every other figure is the same.
    rewritten = forecast_values(key)
    assert sorted(rewritten) == sorted(forecasts)
    for horizon, figures in rewritten.items():
        for field, value in figures.items():
            if field.startswith("model"):
                assert abs(value - forecasts[horizon][field]) <= Decimal("0.01"), (horizon, field)
            else:
                assert value == forecasts[horizon][field], (horizon, field)
    for horizon, computed_at in ForecastSnapshot.objects.filter(scope_key=key).values_list(
        "horizon", "computed_at"
    ):
        assert computed_at > forecast_times[horizon]


def test_nightly_run_snapshots_every_standard_scope(
    history, admin, manager, rep, rep2, outsider, pipeline, eager, task_runs
):
    region = Territory.objects.create(name="EMEA")
    country = Territory.objects.create(name="DACH", parent=region)
    DealFactory(
        owner=outsider, pipeline=pipeline, account=AccountFactory(owner=outsider, territory=country)
    )
    expected = {
        "org",
        f"team={manager.pk}",
        f"team={outsider.manager_id}",
        f"owner={rep.pk}",
        f"owner={rep2.pk}",
        f"owner={outsider.pk}",
        f"territory={region.pk}",
        f"territory={country.pk}",
        f"pipeline={pipeline.pk}",
    }

    assert nightly_snapshots.apply().get() == len(expected)

    assert {scope.key for scope in standard_scopes()} == expected
    # Every scope in one grouped pass, not one pass over the data per scope.
    assert task_runs["reports.snapshot_scopes"] == 1
    assert set(MetricSnapshot.objects.values_list("scope_key", flat=True)) == expected
    assert MetricSnapshot.objects.count() == len(expected)
    per_scope = Counter(ForecastSnapshot.objects.values_list("scope_key", flat=True))
    assert per_scope == dict.fromkeys(expected, len(HORIZONS))
    assert task_runs["reports.mature_forecasts"] == 1
    # The territory snapshot counts the outsider's deal in DACH, the region above it too.
    for territory in (region, country):
        data = MetricSnapshot.objects.get(scope_key=f"territory={territory.pk}").data
        assert (data["open_deals"], Decimal(data["open_value"])) == (1, Decimal("1000.00"))


@pytest.fixture
def rich_world(history, admin, manager, rep, rep2, outsider, pipeline, stages):
    """The history plus a nested team, territories, a second pipeline, a deleted deal and every category."""
    lead = UserFactory(username="lead", role="manager", manager=manager)
    junior = UserFactory(username="junior", manager=lead)
    region = Territory.objects.create(name="EMEA")
    country = Territory.objects.create(name="DACH", parent=region)
    renewals = PipelineFactory(name="Renewals")
    later = {stage.name: stage for stage in renewals.stages.all()}
    dach = AccountFactory(owner=junior, territory=country)
    emea = AccountFactory(owner=outsider, territory=region)
    reason = LostReasonFactory(name="Price")
    soon = timezone.localdate() + datetime.timedelta(days=12)

    def deal(owner, account, deal_pipeline, amount, category="pipeline", close=soon):
        return DealFactory(
            owner=owner,
            account=account,
            pipeline=deal_pipeline,
            amount=Decimal(amount),
            forecast_category=category,
            expected_close_date=close,
        )

    a = deal(junior, dach, renewals, "1234.56", "best_case")
    a = deal_move(deal=a, to_stage=later["Proposal"], by=junior, expected_version=a.version)
    deal(junior, dach, pipeline, "99.99", "omitted")
    deal(junior, dach, pipeline, "10.01", "commit", close=soon + datetime.timedelta(days=40))
    deal(
        outsider, emea, pipeline, "700.00", close=timezone.localdate() - datetime.timedelta(days=3)
    )
    won = deal(outsider, emea, renewals, "450.00")
    deal_move(deal=won, to_stage=later["Won"], by=outsider, expected_version=won.version)
    lost = deal(junior, dach, renewals, "80.00")
    deal_move(
        deal=lost,
        to_stage=later["Lost"],
        by=junior,
        expected_version=lost.version,
        lost_reason=reason,
    )
    gone = deal(rep2, AccountFactory(owner=rep2), pipeline, "5000.00", "commit")
    deal_delete(deal=gone, by=rep2)
    quota_set(
        owner=junior,
        period_start=timezone.localdate().replace(day=1),
        period_end=timezone.localdate().replace(day=1) + datetime.timedelta(days=60),
        target=Decimal("9000"),
    )
    quota_set(
        owner=rep,
        period_start=timezone.localdate(),
        period_end=timezone.localdate() + datetime.timedelta(days=89),
        target=Decimal("4500"),
    )
    return {
        "lead": lead,
        "junior": junior,
        "region": region,
        "country": country,
        "renewals": renewals,
    }


FLOATS = ("close_ratio", "avg_sales_cycle_days", "conversion", "avg_days_in_stage")


def assert_same_funnel(grouped_funnel: dict, alone: dict) -> None:
    def exact(figures):
        return {key: value for key, value in figures.items() if key not in (*FLOATS, "stages")}

    assert exact(grouped_funnel) == exact(alone)
    for key in FLOATS[:2]:
        assert grouped_funnel[key] == pytest.approx(alone[key]), key
    assert len(grouped_funnel["stages"]) == len(alone["stages"])
    for mine, theirs in zip(grouped_funnel["stages"], alone["stages"], strict=True):
        assert exact(mine) == exact(theirs)
        for key in FLOATS[2:]:
            assert mine[key] == pytest.approx(theirs[key]), (mine["name"], key)


def test_the_grouped_pass_gives_each_scope_what_it_computes_alone(
    rich_world, manager, rep, outsider, pipeline
):
    scopes = [
        *standard_scopes(),
        Scope(owner=manager.pk),
        Scope(team=manager.pk, pipeline=rich_world["renewals"].pk),
        Scope(team=rich_world["lead"].pk, territory=rich_world["region"].pk),
        Scope(owner=outsider.pk, territory=rich_world["country"].pk),
        Scope(territory=rich_world["region"].pk, pipeline=pipeline.pk),
    ]
    assert {f"team={rich_world['lead'].pk}", f"owner={rich_world['junior'].pk}"} <= {
        s.key for s in scopes
    }
    now = timezone.now()
    period = Period.default()
    results = grouped_figures(scopes, period=period, now=now)
    assert set(results) == {scope.key for scope in scopes}
    for scope in scopes:
        assert_same_funnel(results[scope.key]["funnel"], funnel(scope, period))
        alone = [forecast(scope, timezone.localdate(now), horizon, now=now) for horizon in HORIZONS]
        assert results[scope.key]["forecasts"] == alone, scope.key
    # The figures are not all zeros: the org sees the overdue deal and the rep's quota.
    org = results["org"]["forecasts"][0]
    assert org["overdue_value"] == Decimal("700.00")
    assert results[f"owner={rep.pk}"]["forecasts"][0]["quota"] == Decimal("1500.00")
    assert (
        results[f"team={manager.pk}"]["funnel"]["open_deals"] == 5
    )  # C, E and the junior's three open


def test_an_empty_organisation_gets_zero_snapshots(db, eager):
    assert nightly_snapshots.apply().get() == 1
    data = MetricSnapshot.objects.get(scope_key="org").data
    assert (data["open_deals"], data["won_deals"], data["close_ratio"], data["stages"]) == (
        0,
        0,
        None,
        [],
    )
    assert set(ForecastSnapshot.objects.values_list("model", flat=True)) == {Decimal("0.00")}


def test_a_product_scope_is_refused_by_the_grouped_pass(db):
    with pytest.raises(ValueError):
        grouped_figures([Scope(product=1)], period=Period.default(), now=timezone.now())


def test_snapshots_compute_writes_cell_and_product_scopes(rich_world, rep, manager):
    keys = snapshots_compute(
        scopes=[Scope(owner=rep.pk), Scope(team=manager.pk), Scope(product=7), Scope(owner=rep.pk)]
    )
    assert sorted(keys) == sorted([f"owner={rep.pk}", f"team={manager.pk}", "product=7"])
    assert MetricSnapshot.objects.count() == 3
    assert ForecastSnapshot.objects.count() == 9
    snapshot = MetricSnapshot.objects.get(scope_key=f"team={manager.pk}")
    assert snapshot.scope_kind == "team"
    assert snapshot.data["open_deals"] == 5


@pytest.fixture
def burst_world(manager, rep, rep2, outsider, pipeline):
    region = Territory.objects.create(name="North America")
    country = Territory.objects.create(name="Canada", parent=region)
    deals = [
        DealFactory(
            owner=owner, pipeline=pipeline, account=AccountFactory(owner=owner, territory=country)
        )
        for owner in (rep, rep, rep2)
    ]
    DealFactory(owner=outsider, pipeline=pipeline)
    DirtyScope.objects.all().delete()
    return {"deals": deals, "region": region, "country": country}


def test_a_burst_of_deal_edits_queues_one_recompute_and_marks_the_touched_scopes(
    burst_world,
    manager,
    rep,
    rep2,
    pipeline,
    settings,
    eager,
    task_runs,
    django_capture_on_commit_callbacks,
):
    settings.REPORTS_RECOMPUTE_ON_CHANGE = True
    cache.delete(RECOMPUTE_LOCK)
    deals = burst_world["deals"]
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            for edit in range(50):
                index = edit % len(deals)
                deals[index] = deal_update(
                    deal=deals[index],
                    by=deals[index].owner,
                    expected_version=deals[index].version,
                    amount=Decimal(2000 + edit),
                )
    finally:
        cache.delete(RECOMPUTE_LOCK)

    assert len(callbacks) == 50
    assert task_runs["reports.recompute_dirty_scopes"] == 1
    # The recompute ran on the first edit's scopes; the 49 edits after it left theirs marked.
    assert set(DirtyScope.objects.values_list("scope_key", flat=True)) == {
        "org",
        f"owner={rep.pk}",
        f"owner={rep2.pk}",
        f"team={manager.pk}",
        f"pipeline={pipeline.pk}",
        f"territory={burst_world['region'].pk}",
        f"territory={burst_world['country'].pk}",
    }
    assert task_runs["reports.snapshot_scopes"] == 1


def test_a_changes_recompute_waits_for_the_one_running_and_rings_for_after_it(
    burst_world, rep, settings, eager, task_runs
):
    """Two change passes never compute beside each other: the second leaves the marks and rings
    for a recompute after the first; once the first is done, the next pass runs."""
    settings.REPORTS_RECOMPUTE_ON_CHANGE = True
    key = Scope(owner=rep.pk).key
    scopes_mark_dirty(keys={key})
    cache.set(RECOMPUTE_RUNNING, 1, 60)  # a pass runs in the worker's other process
    cache.set(RECOMPUTE_LOCK, 1, 60)  # and a ring is pending already: nothing more is queued
    try:
        assert snapshot_scopes.delay([key], only_if_dirty=True).get() == 0
        assert key in scopes_dirty()
        assert task_runs["reports.recompute_dirty_scopes"] == 0
        cache.delete(RECOMPUTE_LOCK)
        assert snapshot_scopes.delay([key], only_if_dirty=True).get() == 0
        # No ring was pending: it rang for one, which found the pass still running.
        assert task_runs["reports.recompute_dirty_scopes"] == 1
        assert key in scopes_dirty()

        cache.delete(RECOMPUTE_RUNNING)  # the first pass is done
        assert snapshot_scopes.delay([key], only_if_dirty=True).get() == 1
        assert key not in scopes_dirty()
        assert cache.get(RECOMPUTE_RUNNING) is None  # let go after the pass
    finally:
        cache.delete(RECOMPUTE_RUNNING)
        cache.delete(RECOMPUTE_LOCK)


def test_a_running_pass_keeps_its_mark_for_as_long_as_it_runs(
    burst_world, rep, settings, eager, monkeypatch
):
    """The mark is a lease of ``REPORTS_RECOMPUTE_LEASE`` seconds, renewed while the pass runs:
    a pass longer than the lease still holds it at its end, and lets it go after."""
    import reports.tasks

    settings.REPORTS_RECOMPUTE_LEASE = 1
    key = Scope(owner=rep.pk).key
    scopes_mark_dirty(keys={key})
    held = []
    compute = reports.tasks.snapshots_compute

    def slow_compute(**kwargs):
        for _ in range(5):  # 2.5 s: the lease lapses after 1 s unless renewed
            time.sleep(0.5)
            held.append(cache.get(RECOMPUTE_RUNNING))
        return compute(**kwargs)

    monkeypatch.setattr(reports.tasks, "snapshots_compute", slow_compute)
    try:
        assert snapshot_scopes.delay([key], only_if_dirty=True).get() == 1
    finally:
        cache.delete(RECOMPUTE_RUNNING)
    assert held == [1] * 5
    assert cache.get(RECOMPUTE_RUNNING) is None
    assert key not in scopes_dirty()


def test_a_pass_whose_worker_was_killed_holds_the_next_one_back_one_lease_at_most(
    burst_world, rep, settings, eager, monkeypatch
):
    """A worker process killed mid-pass (SIGKILL: no ``finally`` runs) leaves its mark, which
    lapses once nobody renews it: the next pass runs a lease later, not a task's time limit."""
    import reports.tasks

    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        # The embedded default (no REDIS_URL, as CI's SQLite step runs it) has one process and
        # a cache of its own: there is no other worker to be killed. With REDIS_URL set, the
        # cache is Redis.
        pytest.skip("two processes share the mark through Redis (set REDIS_URL)")
    settings.REPORTS_RECOMPUTE_LEASE = 1
    key = Scope(owner=rep.pk).key
    scopes_mark_dirty(keys={key})
    cache.set(RECOMPUTE_LOCK, 1, 60)  # a ring is pending: the pass that finds one running stops
    compute = reports.tasks.snapshots_compute
    monkeypatch.setattr(reports.tasks, "snapshots_compute", lambda **kwargs: time.sleep(60))
    child = os.fork()
    if child == 0:  # the worker's other process: takes the mark, then hangs in its pass
        try:
            snapshot_scopes([key], only_if_dirty=True)
        finally:
            os._exit(0)
    try:
        for _ in range(50):  # until the child holds the mark
            if cache.get(RECOMPUTE_RUNNING) is not None:
                break
            time.sleep(0.1)
        time.sleep(1.5)  # longer than the lease: the child renews it
        assert snapshot_scopes([key], only_if_dirty=True) == 0
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        time.sleep(1.5)
        monkeypatch.setattr(reports.tasks, "snapshots_compute", compute)
        assert snapshot_scopes([key], only_if_dirty=True) == 1
    finally:
        cache.delete(RECOMPUTE_RUNNING)
        cache.delete(RECOMPUTE_LOCK)
    assert key not in scopes_dirty()


def test_the_nightly_pass_runs_whatever_change_pass_is_running(burst_world, rep, eager):
    key = Scope(owner=rep.pk).key
    scopes_mark_dirty(keys={key})
    cache.set(RECOMPUTE_RUNNING, 1, 60)
    try:
        assert snapshot_scopes.delay([key]).get() == 1
    finally:
        cache.delete(RECOMPUTE_RUNNING)
    assert key not in scopes_dirty()


def test_without_recompute_on_change_edits_only_mark_scopes(
    burst_world, rep, settings, eager, task_runs, django_capture_on_commit_callbacks
):
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    cache.delete(RECOMPUTE_LOCK)
    deal = burst_world["deals"][0]
    with django_capture_on_commit_callbacks(execute=True):
        deal_update(deal=deal, by=rep, expected_version=deal.version, amount=Decimal("5.00"))
    assert task_runs["reports.recompute_dirty_scopes"] == 0
    assert DirtyScope.objects.filter(scope_key=f"owner={rep.pk}").exists()
    assert cache.get(RECOMPUTE_LOCK) is None


@pytest.fixture
def live_compute_fails(monkeypatch):
    """Any funnel or forecast computed on the request path fails the test."""

    def fail(*args, **kwargs):
        raise AssertionError("computed on the request path")

    for target in (
        "reports.runners.funnel.funnel",
        "reports.runners.funnel.metric_snapshot_compute",
        "reports.runners.funnel.deal_totals",
        "reports.runners.forecast.forecast_snapshots_compute",
    ):
        monkeypatch.setattr(target, fail)


def test_a_dirty_scope_is_served_from_its_old_snapshot_until_recomputed(
    history,
    rep,
    client_for,
    eager,
    settings,
    django_capture_on_commit_callbacks,
    live_compute_fails,
):
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    key = Scope(owner=rep.pk).key
    client = client_for(rep)
    snapshot_scope.apply(args=[key]).get()
    snapshot = MetricSnapshot.objects.get(scope_key=key)

    with CaptureQueriesContext(connection) as fresh_queries:
        funnel = client.get("/api/v1/metrics/funnel/").json()
    assert (funnel["source"], funnel["open_value"], funnel["stale"]) == (
        "snapshot",
        "2300.00",
        False,
    )
    assert parse_datetime(funnel["computed_at"]) == snapshot.computed_at
    forecasts = client.get("/api/v1/forecasts/", {"horizon": 30}).json()["forecasts"]
    assert [(f["source"], f["stale"]) for f in forecasts] == [("snapshot", False)]
    assert forecasts[0]["pipeline"] == "2300.00"

    e = Deal.objects.get(pk=history.deals["E"])
    with django_capture_on_commit_callbacks(execute=True):
        deal_update(deal=e, by=rep, expected_version=e.version, amount=Decimal("800.00"))
    assert DirtyScope.objects.filter(scope_key=key).exists()

    # Stale: the old snapshot answers at once, says when it was computed, and nothing is computed.
    with CaptureQueriesContext(connection) as stale_queries:
        funnel = client.get("/api/v1/metrics/funnel/").json()
    forecasts = client.get("/api/v1/forecasts/", {"horizon": 30}).json()["forecasts"]
    assert len(stale_queries) == len(fresh_queries) <= 6
    assert (funnel["source"], funnel["open_value"], funnel["stale"]) == (
        "snapshot",
        "2300.00",
        True,
    )
    assert parse_datetime(funnel["computed_at"]) == snapshot.computed_at
    assert (forecasts[0]["source"], forecasts[0]["pipeline"], forecasts[0]["stale"]) == (
        "snapshot",
        "2300.00",
        True,
    )

    assert recompute_dirty_scopes.apply().get() >= 1
    assert not DirtyScope.objects.filter(scope_key=key).exists()
    refreshed = MetricSnapshot.objects.get(scope_key=key)
    funnel = client.get("/api/v1/metrics/funnel/").json()
    assert (funnel["source"], funnel["open_value"], funnel["stale"]) == (
        "snapshot",
        "2800.00",
        False,
    )
    assert parse_datetime(funnel["computed_at"]) == refreshed.computed_at > snapshot.computed_at
    forecasts = client.get("/api/v1/forecasts/", {"horizon": 30}).json()["forecasts"]
    assert (forecasts[0]["source"], forecasts[0]["pipeline"]) == ("snapshot", "2800.00")


def test_reassigning_a_deal_marks_the_scopes_it_left(
    burst_world,
    admin,
    manager,
    rep,
    outsider,
    other_manager,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    deal = burst_world["deals"][0]
    with django_capture_on_commit_callbacks(execute=True):
        deal_reassign(deal=deal, new_owner=outsider, by=admin, expected_version=deal.version)
    dirty = set(DirtyScope.objects.values_list("scope_key", flat=True))
    assert {
        f"owner={rep.pk}",
        f"team={manager.pk}",
        f"owner={outsider.pk}",
        f"team={other_manager.pk}",
    } <= dirty


def test_a_territory_the_deals_left_is_marked_when_named(burst_world, settings):
    """An account moving territory can name the territory its deals left (the deals no longer tell)."""
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    left = Territory.objects.create(name="Mexico", parent=Territory.objects.create(name="LATAM"))
    deals_changed.send(sender=Deal, deal_ids=[burst_world["deals"][0].pk], territory_ids=[left.pk])
    dirty = set(DirtyScope.objects.values_list("scope_key", flat=True))
    assert {
        f"territory={left.pk}",
        f"territory={left.parent_id}",
        f"territory={burst_world['country'].pk}",
    } <= dirty


def test_a_scope_stays_marked_until_its_snapshots_are_rewritten(history, rep):
    key = Scope(owner=rep.pk).key
    scopes_mark_dirty(keys={key, "org"})
    # Handing the stale scopes out to a recompute does not unmark them: readers see them stale meanwhile.
    assert scopes_dirty() == ["org", key]
    assert scopes_dirty() == ["org", key]
    period = Period.default()
    assert metric_snapshot_for(Scope(owner=rep.pk), period.start, period.end) is None
    assert scope_stale(Scope(owner=rep.pk))

    scope_snapshots_compute(scope=Scope(owner=rep.pk))
    assert scopes_dirty() == ["org"]
    assert metric_snapshot_for(Scope(owner=rep.pk), period.start, period.end) is not None
    assert not scope_stale(Scope(owner=rep.pk))
    # A duplicate recompute of a scope already rewritten leaves it alone.
    before = MetricSnapshot.objects.get(scope_key=key).computed_at
    assert snapshots_compute(scopes=[Scope(owner=rep.pk), Scope()], only_if_dirty=True) == ["org"]
    assert MetricSnapshot.objects.get(scope_key=key).computed_at == before
    assert scopes_dirty() == []

    # A change marked while the computation ran keeps the mark.
    DirtyScope.objects.create(
        scope_key=key, marked_at=timezone.now() + datetime.timedelta(minutes=1)
    )
    scope_snapshots_compute(scope=Scope(owner=rep.pk))
    assert key in scopes_dirty()
    assert scope_stale(Scope(owner=rep.pk))


def test_a_combined_scope_snapshot_is_served_stale_after_a_change(
    history, rep, admin, pipeline, client_for, eager, settings, django_capture_on_commit_callbacks
):
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    client = client_for(rep)
    assert client.post("/api/v1/metrics/refresh/", {"pipeline": pipeline.pk}).status_code == 202
    assert client_for(admin).post("/api/v1/metrics/refresh/", {"product": 1}).status_code == 202
    combined = f"owner={rep.pk};pipeline={pipeline.pk}"
    assert MetricSnapshot.objects.filter(scope_key=combined).exists()
    funnel = client.get("/api/v1/metrics/funnel/", {"pipeline": pipeline.pk}).json()
    assert (funnel["scope"], funnel["source"]) == (combined, "snapshot")

    e = Deal.objects.get(pk=history.deals["E"])
    with django_capture_on_commit_callbacks(execute=True):
        deal_update(deal=e, by=rep, expected_version=e.version, amount=Decimal("800.00"))
    assert {combined, "product=1"} <= set(DirtyScope.objects.values_list("scope_key", flat=True))
    funnel = client.get("/api/v1/metrics/funnel/", {"pipeline": pipeline.pk}).json()
    assert (funnel["source"], funnel["open_value"], funnel["stale"]) == (
        "snapshot",
        "2300.00",
        True,
    )

    # Recomputing the rep's own scope alone does not make the combined snapshot fresh.
    snapshot_scope.apply(args=[f"owner={rep.pk}"]).get()
    funnel = client.get("/api/v1/metrics/funnel/", {"pipeline": pipeline.pk}).json()
    assert (funnel["open_value"], funnel["stale"]) == ("2300.00", True)

    recompute_dirty_scopes.apply().get()
    funnel = client.get("/api/v1/metrics/funnel/", {"pipeline": pipeline.pk}).json()
    assert (funnel["source"], funnel["open_value"], funnel["stale"]) == (
        "snapshot",
        "2800.00",
        False,
    )
    assert not DirtyScope.objects.exists()


# Forecast accuracy. In the history, A (rep, 1,000) was won at T0 + 10 days and F (rep2,
# 4,000) at T0 + 20 days; today is T0 + 60 days.

# (scope, as_of offset in days from T0, horizon, a forecast per method, the hand-worked actual)
ACCURACY_CASES = [
    ("rep", 0, 30, (1200, 900, 800, 1000, 1100), 1000),  # [T0, T0+30): A
    ("rep", 5, 30, (700, 1000, 500, 1250, 1000), 1000),  # [T0+5, T0+35): A
    ("rep", 11, 30, (300, 0, 0, 150, 200), 0),  # [T0+11, T0+41): nothing
    ("rep", 0, 60, (1500, 1000, 900, 800, 1300), 1000),  # [T0, T0+60): A; ends today, so matured
    ("team", 0, 30, (6000, 5000, 4000, 5500, 4500), 5000),  # A and F
    ("team", 15, 30, (2000, 4000, 3000, 4400, 3600), 4000),  # F only
]
UNMATURED = [("rep", 0, 90), ("rep", 31, 30)]  # windows ending T0+90 and T0+61: after today


@pytest.fixture
def accuracy_snapshots(history, rep, manager):
    scopes = {"rep": Scope(owner=rep.pk), "team": Scope(team=manager.pk)}
    t0 = history.t0.date()

    def snapshot(scope, offset, horizon, values=(0, 0, 0, 0, 0)):
        methods = {method: Decimal(value) for method, value in zip(METHODS, values, strict=True)}
        return ForecastSnapshot.objects.create(
            scope_key=scopes[scope].key,
            scope_kind=scopes[scope].key.split("=")[0],
            as_of=t0 + datetime.timedelta(days=offset),
            horizon=horizon,
            model_p10=methods["model"],
            model_p90=methods["model"],
            overdue_value=0,
            won_in_window=0,
            computed_at=history.t0,
            **methods,
        )

    for scope, offset, horizon, values, _ in ACCURACY_CASES:
        snapshot(scope, offset, horizon, values)
    for scope, offset, horizon in UNMATURED:
        snapshot(scope, offset, horizon)
    return scopes


def test_maturing_fills_the_actual_value_won_in_each_window(history, accuracy_snapshots):
    assert forecasts_mature(today=history.today) == len(ACCURACY_CASES)
    t0 = history.t0.date()
    for scope, offset, horizon, _, actual in ACCURACY_CASES:
        row = ForecastSnapshot.objects.get(
            scope_key=accuracy_snapshots[scope].key,
            as_of=t0 + datetime.timedelta(days=offset),
            horizon=horizon,
        )
        assert row.actual == Decimal(actual), (scope, offset, horizon)
    for scope, offset, horizon in UNMATURED:
        row = ForecastSnapshot.objects.get(
            scope_key=accuracy_snapshots[scope].key,
            as_of=t0 + datetime.timedelta(days=offset),
            horizon=horizon,
        )
        assert row.actual is None
    # Nothing is left to mature a second time.
    assert forecasts_mature(today=history.today) == 0


def test_accuracy_summary_gives_hand_worked_mape_and_bias(
    history, accuracy_snapshots, rep, client_for
):
    forecasts_mature(today=history.today)
    summary = {
        row["horizon"]: row
        for row in accuracy_summary(matured_forecasts(accuracy_snapshots["rep"]))
    }
    assert sorted(summary) == [30, 60]
    thirty = summary[30]
    assert thirty["snapshots"] == 3
    # pipeline: errors +200, -300, +300 against 1,000, 1,000 and 0 (left out of MAPE).
    assert thirty["methods"]["pipeline"]["mape"] == pytest.approx((0.2 + 0.3) / 2)
    assert thirty["methods"]["pipeline"]["bias"] == pytest.approx((200 - 300 + 300) / 3)
    # best_case: -100, 0, 0
    assert thirty["methods"]["best_case"]["mape"] == pytest.approx(0.05)
    assert thirty["methods"]["best_case"]["bias"] == pytest.approx(-100 / 3)
    # commit: -200, -500, 0
    assert thirty["methods"]["commit"]["mape"] == pytest.approx(0.35)
    assert thirty["methods"]["commit"]["bias"] == pytest.approx(-700 / 3)
    # weighted: 0, +250, +150
    assert thirty["methods"]["weighted"]["mape"] == pytest.approx(0.125)
    assert thirty["methods"]["weighted"]["bias"] == pytest.approx(400 / 3)
    # model: +100, 0, +200
    assert thirty["methods"]["model"]["mape"] == pytest.approx(0.05)
    assert thirty["methods"]["model"]["bias"] == pytest.approx(100.0)
    sixty = summary[60]
    assert sixty["snapshots"] == 1
    assert sixty["methods"]["pipeline"] == {
        "mape": pytest.approx(0.5),
        "bias": pytest.approx(500.0),
    }
    assert sixty["methods"]["weighted"] == {
        "mape": pytest.approx(0.2),
        "bias": pytest.approx(-200.0),
    }

    # The API shows the same summary and each window's error.
    body = client_for(rep).get("/api/v1/forecasts/accuracy/", {"horizon": 30}).json()
    assert [row["horizon"] for row in body["summary"]] == [30]
    assert body["summary"][0]["methods"]["commit"]["mape"] == pytest.approx(0.35)
    assert body["summary"][0]["methods"]["commit"]["bias"] == pytest.approx(-700 / 3)
    rows = body["snapshots"]
    assert [row["actual"] for row in rows] == ["1000.00", "1000.00", "0.00"]
    assert rows[0]["methods"]["pipeline"] == {
        "forecast": "1200.00",
        "error": "200.00",
        "abs_pct_error": 0.2,
    }
    assert rows[2]["methods"]["pipeline"]["abs_pct_error"] is None


def test_team_accuracy(history, accuracy_snapshots):
    forecasts_mature(today=history.today)
    (thirty,) = accuracy_summary(matured_forecasts(accuracy_snapshots["team"]))
    # pipeline: +1,000 on 5,000 and -2,000 on 4,000
    assert thirty["methods"]["pipeline"]["mape"] == pytest.approx((0.2 + 0.5) / 2)
    assert thirty["methods"]["pipeline"]["bias"] == pytest.approx(-500.0)
    # model: -500 on 5,000 and -400 on 4,000
    assert thirty["methods"]["model"]["mape"] == pytest.approx(0.1)
    assert thirty["methods"]["model"]["bias"] == pytest.approx(-450.0)


def backfill(*args):
    call_command("backfill_forecasts", *args, "--no-progress", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_backfill_writes_three_snapshots_per_scope_and_day_once(history, rep):
    t0 = history.t0.date()
    start, end = t0 + datetime.timedelta(days=3), t0 + datetime.timedelta(days=5)
    scopes = standard_scopes()
    backfill("--start", start.isoformat(), "--end", end.isoformat())
    assert ForecastSnapshot.objects.count() == 3 * len(scopes) * 3
    for scope in scopes:
        for offset in range(3):
            day = start + datetime.timedelta(days=offset)
            assert ForecastSnapshot.objects.filter(scope_key=scope.key, as_of=day).count() == 3
    first = {
        (row.scope_key, row.as_of, row.horizon): {
            field: getattr(row, field) for field in (*FORECAST_FIELDS, "actual")
        }
        for row in ForecastSnapshot.objects.all()
    }

    backfill("--start", start.isoformat(), "--end", end.isoformat())

    assert ForecastSnapshot.objects.count() == 3 * len(scopes) * 3
    again = {
        (row.scope_key, row.as_of, row.horizon): {
            field: getattr(row, field) for field in (*FORECAST_FIELDS, "actual")
        }
        for row in ForecastSnapshot.objects.all()
    }
    assert again == first
    # Windows of 30 days from T0+3..T0+5 have passed: each holds A's 1,000 for the rep.
    for offset in range(3):
        row = first[(Scope(owner=rep.pk).key, start + datetime.timedelta(days=offset), 30)]
        assert row["actual"] == Decimal("1000.00")


def test_a_backfilled_snapshot_equals_the_forecast_computed_directly(history, rep, manager):
    day = history.t0.date() + datetime.timedelta(days=4)
    backfill(
        "--start",
        day.isoformat(),
        "--end",
        day.isoformat(),
        "--scope",
        f"owner={rep.pk}",
        "--scope",
        f"team={manager.pk}",
    )
    assert ForecastSnapshot.objects.count() == 6
    for scope in (Scope(owner=rep.pk), Scope(team=manager.pk)):
        for horizon in HORIZONS:
            direct = forecast(scope, day, horizon)
            row = ForecastSnapshot.objects.get(scope_key=scope.key, as_of=day, horizon=horizon)
            assert direct["live"] is False
            assert {field: getattr(row, field) for field in FORECAST_FIELDS} == {
                field: direct[field] for field in FORECAST_FIELDS
            }
    # As of T0+4 the rep had A, B, C (at 1,500) and E open; the 90-day window holds them all.
    assert ForecastSnapshot.objects.get(
        scope_key=f"owner={rep.pk}", horizon=90
    ).pipeline == Decimal("3300.00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2026-02-30"], "is not a date"),
        (["--start", "yesterday"], "is not a date"),
        (["--start", "2024-03-10", "--end", "2024-03-01"], "--end is before --start"),
        (["--start", "2024-03-10", "--end", "2999-01-01"], "--end must be before today"),
        (
            ["--start", "2024-03-10", "--end", "2024-03-11", "--scope", "colour=blue"],
            "A scope looks like",
        ),
        (
            ["--start", "2024-03-10", "--end", "2024-03-11", "--scope", "nonsense"],
            "A scope looks like",
        ),
    ],
)
def test_backfill_refuses_bad_input_with_a_message(db, args, message):
    with pytest.raises(CommandError, match=message):
        backfill(*args)
    assert not ForecastSnapshot.objects.exists()


def test_before_todays_snapshots_exist_yesterdays_answer_stale_and_a_recompute_is_queued(
    history, rep, client_for, settings, live_compute_fails
):
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    key = Scope(owner=rep.pk).key
    yesterday = timezone.now() - datetime.timedelta(days=1)
    snapshots_compute(scopes=[Scope(owner=rep.pk)], now=yesterday)
    DirtyScope.objects.all().delete()
    client = client_for(rep)

    funnel = client.get("/api/v1/metrics/funnel/").json()
    assert (funnel["source"], funnel["stale"], funnel["open_value"]) == (
        "snapshot",
        True,
        "2300.00",
    )
    assert parse_datetime(funnel["computed_at"]) == yesterday
    assert funnel["end"] == Period.default(timezone.localdate(yesterday)).end.isoformat()
    assert DirtyScope.objects.filter(scope_key=key).exists()
    forecasts = client.get("/api/v1/forecasts/").json()["forecasts"]
    assert [(f["source"], f["stale"]) for f in forecasts] == [("snapshot", True)] * 3
    assert {parse_datetime(f["computed_at"]) for f in forecasts} == {yesterday}

    assert snapshots_compute(scopes=[Scope(owner=rep.pk)], only_if_dirty=True) == [key]
    funnel = client.get("/api/v1/metrics/funnel/").json()
    assert (funnel["stale"], funnel["end"]) == (False, Period.default().end.isoformat())


def test_a_change_that_commits_during_a_pass_keeps_its_mark(history, rep, monkeypatch):
    """A mark that the pass did not see but whose time is before the pass's start (a web host's
    clock behind the worker's) is not cleared: only the marks read before the figures are."""
    import reports.grouped

    key = Scope(owner=rep.pk).key
    real = reports.grouped.figures

    def a_change_commits_meanwhile(scopes, **kwargs):
        found = real(scopes, **kwargs)
        # Stamped a minute ago by another clock, visible only now, after the pass read its figures.
        DirtyScope.objects.create(
            scope_key=key, marked_at=timezone.now() - datetime.timedelta(minutes=1)
        )
        return found

    monkeypatch.setattr(reports.grouped, "figures", a_change_commits_meanwhile)
    snapshots_compute(scopes=[Scope(owner=rep.pk), Scope()])
    assert key in scopes_dirty()
    assert scope_stale(Scope(owner=rep.pk))
    monkeypatch.setattr(reports.grouped, "figures", real)
    snapshots_compute(scopes=[Scope(owner=rep.pk)], only_if_dirty=True)
    assert key not in scopes_dirty()
