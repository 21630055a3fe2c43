"""A change's recompute reuses the model's recent trainings (``grouped.Learned``), and nothing else.

Each test learns on a random organisation (``_world``), then rewrites the whole transition
history (``_histories`` with another seed): a retrained model gives other figures, so a pass that
reused the old training is told apart from one that learned afresh.
"""

import datetime
import random

import pytest
from django.utils import timezone

from pipeline.models import Deal, Stage, StageKind
from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.forecasts import HORIZONS
from reports.grouped import Learned, figures, learned_forget
from reports.models import ForecastSnapshot
from reports.services import scopes_mark_dirty, snapshots_compute
from salesmgr.models import User
from tests.factories import AccountFactory, DealFactory, UserFactory
from tests.reports.test_grouped_lists import _histories, _world

pytestmark = pytest.mark.django_db


def _models(found: dict) -> dict:
    """Each scope's model figures per horizon."""
    return {
        key: [{k: v for k, v in f.items() if k.startswith("model")} for f in result["forecasts"]]
        for key, result in found.items()
    }


@pytest.fixture
def learned(settings):
    """A world, its figures learned by a change's pass at ``now``, then its history rewritten."""
    settings.REPORTS_LEARNED_MAX_AGE = 600
    scopes = _world(53, 90)
    now = timezone.now()
    period = Period.default(timezone.localdate(now))
    first = figures(scopes, period=period, now=now, reuse_learned=True)
    assert first == figures(scopes, period=period, now=now)  # learning changes no figure
    _histories(random.Random(4), now)
    return scopes, period, now, first


def test_a_changes_pass_reuses_the_training_and_reads_every_other_figure_afresh(learned):
    scopes, period, now, first = learned

    reused = figures(scopes, period=period, now=now, reuse_learned=True)
    fresh = figures(scopes, period=period, now=now)

    assert _models(fresh) != _models(first)  # the new history teaches the model otherwise
    assert _models(reused) == _models(first)
    for scope in scopes:
        # The funnel reads the transitions (entered, advanced, days in stage): the new ones.
        assert reused[scope.key]["funnel"] == fresh[scope.key]["funnel"], scope.key


def test_the_open_deals_a_reused_model_weighs_are_those_of_now(learned):
    scopes, period, now, first = learned
    learned_forget()
    relearned = figures(scopes, period=period, now=now, reuse_learned=True)
    moved = 0
    for deal in Deal.objects.filter(status=StageKind.OPEN, deleted_at__isnull=True)[:25]:
        later = Stage.objects.filter(
            pipeline=deal.pipeline_id, kind=StageKind.OPEN, order__gt=deal.stage.order
        ).first()
        if later is not None:
            # A move's position alone (its transition would be a new entry of the training).
            Deal.objects.filter(pk=deal.pk).update(
                stage=later, stage_entered_at=now - datetime.timedelta(days=1)
            )
            moved += 1
    assert moved

    reused = figures(scopes, period=period, now=now, reuse_learned=True)

    assert _models(reused) != _models(relearned)
    assert _models(reused) == _models(figures(scopes, period=period, now=now))


def test_learned_trainings_expire(learned, settings):
    scopes, period, now, first = learned
    settings.REPORTS_LEARNED_MAX_AGE = 60

    kept = now + datetime.timedelta(seconds=60)
    assert _models(figures(scopes, period=period, now=kept, reuse_learned=True)) != _models(
        figures(scopes, period=period, now=kept)
    )
    late = now + datetime.timedelta(seconds=61)
    assert _models(figures(scopes, period=period, now=late, reuse_learned=True)) == _models(
        figures(scopes, period=period, now=late)
    )


def test_a_pass_of_the_next_day_or_without_reuse_learns_afresh(learned, settings):
    scopes, period, now, first = learned
    settings.REPORTS_LEARNED_MAX_AGE = 3 * 24 * 3600
    tomorrow = now + datetime.timedelta(days=1)
    assert _models(figures(scopes, period=period, now=tomorrow, reuse_learned=True)) == _models(
        figures(scopes, period=period, now=tomorrow)
    )


def test_forgetting_relearns_in_every_process(learned):
    """``learned_forget`` (the exchange rates changed) reaches other processes through the cache:
    a process's kept training stops serving once the generation it was learned in is gone."""
    scopes, period, now, first = learned
    from django.core.cache import cache

    cache.delete(Learned.GENERATION)  # as another process's forgetting changes it
    learned_forget()
    assert _models(figures(scopes, period=period, now=now, reuse_learned=True)) == _models(
        figures(scopes, period=period, now=now)
    )


def test_a_cell_new_since_reuses_and_a_moved_team_learns_afresh(learned):
    """A deal in a new cell (a new owner) had no entries when the trainings were learned, so the
    groups it joins keep theirs; a rep moved to another manager regroups known cells: learn."""
    scopes, period, now, first = learned
    kept = Learned._kept
    newcomer = UserFactory(username="newcomer", manager=None)
    pipeline = Deal.objects.first().pipeline  # a new pipeline's stages would be learned anew
    DealFactory(owner=newcomer, account=AccountFactory(owner=newcomer), pipeline=pipeline)

    reused = figures(scopes, period=period, now=now, reuse_learned=True)

    assert Learned._kept is kept
    assert _models(reused) != _models(figures(scopes, period=period, now=now))

    rep = User.objects.filter(role="rep", manager__manager__isnull=False).first()
    rep.manager = rep.manager.manager  # up a level: the teams between hold other cells now
    rep.save(update_fields=["manager"])

    relearned = figures(scopes, period=period, now=now, reuse_learned=True)

    assert Learned._kept is not kept
    assert _models(relearned) == _models(figures(scopes, period=period, now=now))


def test_no_reuse_when_turned_off(learned, settings):
    scopes, period, now, first = learned
    settings.REPORTS_LEARNED_MAX_AGE = 0
    assert _models(figures(scopes, period=period, now=now, reuse_learned=True)) == _models(
        figures(scopes, period=period, now=now)
    )


def test_only_a_changes_recompute_reuses_the_training(learned):
    """``snapshots_compute(only_if_dirty=True)`` (a change's recompute, the sweep) reuses; a pass
    of given scopes (the nightly run, a refresh) learns afresh."""
    scopes, period, now, first = learned
    org = Scope()
    scopes_mark_dirty(keys={org.key})

    snapshots_compute(scopes=[org], only_if_dirty=True, now=now)

    def stored() -> list:
        rows = ForecastSnapshot.objects.filter(scope_key=org.key, as_of=timezone.localdate(now))
        return [rows.get(horizon=horizon).model for horizon in HORIZONS]

    assert stored() == [f["model"] for f in first[org.key]["forecasts"]]
    snapshots_compute(scopes=[org], now=now)
    fresh = figures([org], period=period, now=now)
    assert (
        stored()
        == [f["model"] for f in fresh[org.key]["forecasts"]]
        != [f["model"] for f in first[org.key]["forecasts"]]
    )
