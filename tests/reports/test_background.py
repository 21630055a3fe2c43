"""The embedded recompute: without a worker, a deal change is recomputed on a thread of the web process, not in a request."""

from decimal import Decimal

import pytest

from pipeline.scopes import Scope
from pipeline.services import deal_move
from reports import background
from reports.models import DirtyScope, MetricSnapshot
from reports.services import scopes_mark_dirty, snapshots_compute
from tests.factories import DealFactory

WAIT_SECONDS = 30


@pytest.fixture
def embedded(settings, monkeypatch):
    """The embedded recompute on, in a process that serves requests."""
    monkeypatch.setattr(background, "_serving", True)
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    settings.REPORTS_EMBEDDED_RECOMPUTE = True
    settings.REPORTS_EMBEDDED_DELAY = 1
    yield
    assert background.recompute_wait(WAIT_SECONDS)


def test_a_move_is_recomputed_on_a_thread_without_any_request(
    transactional_db, embedded, manager, rep, pipeline, stages
):
    deal = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("1200.00"))
    team = Scope(team=manager.pk)
    assert background.recompute_wait(WAIT_SECONDS)
    snapshots_compute(scopes=[team])
    before = MetricSnapshot.objects.get(scope_key=team.key)
    assert before.data["open_deals"] == 1

    deal_move(deal=deal, to_stage=stages["Won"], by=rep, expected_version=deal.version)
    assert DirtyScope.objects.filter(scope_key=team.key).exists()
    assert background.recompute_wait(WAIT_SECONDS)

    after = MetricSnapshot.objects.get(scope_key=team.key)
    assert after.computed_at > before.computed_at
    assert (after.data["open_deals"], after.data["won_deals"]) == (0, 1)
    assert not DirtyScope.objects.exists()


def test_a_burst_of_moves_starts_one_recompute(
    transactional_db, embedded, settings, rep, pipeline, stages, monkeypatch
):
    settings.REPORTS_EMBEDDED_DELAY = 3
    runs = []
    monkeypatch.setattr(background, "dirty_scopes_recompute", lambda **kwargs: runs.append(kwargs))
    deals = DealFactory.create_batch(3, owner=rep, pipeline=pipeline)
    for deal in deals:
        deal_move(deal=deal, to_stage=stages["Proposal"], by=rep, expected_version=deal.version)
    assert background.recompute_wait(WAIT_SECONDS)
    assert len(runs) == 1


def test_a_stale_read_rings_for_the_recompute_marks_left_without_one(
    transactional_db, embedded, manager, rep, pipeline, client_for
):
    """Marks left by a process that serves no requests (``seed_demo``) are recomputed once a read finds them."""
    DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("700.00"))
    rep_scope = Scope(owner=rep.pk)
    assert background.recompute_wait(WAIT_SECONDS)
    snapshots_compute(scopes=[rep_scope])
    before = MetricSnapshot.objects.get(scope_key=rep_scope.key)
    scopes_mark_dirty(keys={rep_scope.key})

    assert client_for(rep).get("/api/v1/metrics/funnel/").json()["stale"] is True
    assert background.recompute_wait(WAIT_SECONDS)
    assert MetricSnapshot.objects.get(scope_key=rep_scope.key).computed_at > before.computed_at
    assert not DirtyScope.objects.exists()


def test_a_process_serving_no_requests_starts_no_thread(
    transactional_db, embedded, rep, pipeline, stages, monkeypatch
):
    monkeypatch.setattr(background, "_serving", False)
    deal = DealFactory(owner=rep, pipeline=pipeline)
    deal_move(deal=deal, to_stage=stages["Proposal"], by=rep, expected_version=deal.version)
    assert background.recompute_wait(0)
    assert DirtyScope.objects.filter(scope_key=Scope(owner=rep.pk).key).exists()
