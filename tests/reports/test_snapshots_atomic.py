"""A snapshot pass writes all its rows or none: a pass that dies while writing leaves the previous ones whole.

The real kill (SIGKILL to a worker in the middle of the nightly pass) is in
``tests/topology``; here a failure at the last write of a pass.
"""

import datetime

import pytest
from django.utils import timezone

from pipeline.scopes import Scope
from reports.models import DirtyScope, ForecastSnapshot, MetricSnapshot
from reports.services import scope_snapshots_compute, scopes_mark_dirty, snapshots_compute


def written() -> dict:
    metrics = MetricSnapshot.objects.values_list("scope_key", "data", "computed_at")
    forecasts = ForecastSnapshot.objects.values_list("scope_key", "horizon", "computed_at")
    return {"metrics": sorted(metrics, key=str), "forecasts": sorted(forecasts, key=str)}


def fail_at_the_last_write(monkeypatch):
    def die(*args, **kwargs):
        raise RuntimeError("the worker died here")

    monkeypatch.setattr("reports.services._gap_deals_store", die)


def test_a_grouped_pass_that_fails_while_writing_leaves_every_snapshot_as_it_was(
    history, rep, manager, monkeypatch
):
    scopes = [Scope(), Scope(owner=rep.pk), Scope(team=manager.pk)]
    snapshots_compute(scopes=scopes)
    scopes_mark_dirty(keys={scope.key for scope in scopes})
    before = written()

    fail_at_the_last_write(monkeypatch)
    with pytest.raises(RuntimeError):
        snapshots_compute(scopes=scopes)

    assert written() == before
    assert set(DirtyScope.objects.values_list("scope_key", flat=True)) == {
        scope.key for scope in scopes
    }


def test_one_scopes_pass_that_fails_while_writing_leaves_its_snapshots_as_they_were(
    history, rep, monkeypatch
):
    scope = Scope(owner=rep.pk)
    scope_snapshots_compute(scope=scope)
    before = written()

    fail_at_the_last_write(monkeypatch)
    with pytest.raises(RuntimeError):
        scope_snapshots_compute(scope=scope)

    assert written() == before


def test_a_pass_that_started_earlier_and_finishes_later_leaves_the_newer_snapshots(
    history, rep, manager
):
    scopes = [Scope(owner=rep.pk), Scope(team=manager.pk)]
    later = timezone.now()
    snapshots_compute(scopes=scopes, now=later)
    scopes_mark_dirty(keys={scope.key for scope in scopes})
    newer = written()

    snapshots_compute(scopes=scopes, now=later - datetime.timedelta(milliseconds=5))

    assert written() == newer
    assert DirtyScope.objects.count() == 2  # marked after the newer pass started: still stale
