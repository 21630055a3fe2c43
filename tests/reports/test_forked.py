"""The model's share of a big grouped pass worked out in a second process (``reports.forked``).

The figures must be those of one process, whatever share the second one takes, and a second
process that fails or cannot start must cost nothing but time.
"""

import gc
import os
import random
import signal

import pytest
from django.utils import timezone

from pipeline.periods import Period
from reports import forked, grouped
from reports.forked import ChildFailed, Forked
from tests.reports.test_grouped_lists import _world

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")


def _twice(value):
    return value * 2


def _fail():
    raise RuntimeError("the child's own error")


def _die():
    os._exit(3)


def _sleep_forever():
    signal.pause()


def test_a_child_returns_its_result_and_how_much_it_used():
    child = Forked(_twice, [1, 2])
    assert child.result() == [1, 2, 1, 2]
    assert child.usage["cpu_s"] >= 0
    if os.path.exists("/proc/self/smaps_rollup"):
        assert child.usage["peak_mb"] > 0 and child.usage["own_mb"] > 0


def test_a_child_that_raises_or_dies_is_reported_and_reaped():
    with pytest.raises(ChildFailed, match="the child's own error"):
        Forked(_fail).result()
    with pytest.raises(ChildFailed, match="without a result"):
        Forked(_die).result()


def test_closing_stops_a_child_whose_result_is_not_wanted():
    child = Forked(_sleep_forever)
    pid = child._pid
    child.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no such child any more

    forgotten = Forked(_sleep_forever)
    pid = forgotten._pid
    del forgotten
    gc.collect()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_big_pass_uses_two_cores_unless_told_otherwise(settings, monkeypatch):
    # The default (no REPORTS_MODEL_PROCESSES in the environment) is 2; never more than the cores.
    assert int(os.environ.get("REPORTS_MODEL_PROCESSES", 2)) == settings.REPORTS_MODEL_PROCESSES
    settings.REPORTS_MODEL_PROCESSES = 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    assert forked.processes() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0}, raising=False)
    assert forked.processes() == 1
    settings.REPORTS_MODEL_PROCESSES = 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert forked.processes() == 1


@pytest.fixture
def two_processes(settings, monkeypatch):
    """A second process for any pass, however small."""
    settings.REPORTS_MODEL_PROCESSES = 2
    monkeypatch.setattr(grouped, "SHARED_FROM_ENTRIES", 1)
    monkeypatch.setattr(forked, "processes", lambda: 2)
    monkeypatch.setattr(grouped, "processes", lambda: 2)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [5, 17])
def test_two_processes_give_the_figures_of_one(seed, two_processes, monkeypatch):
    scopes = _world(seed, 120)
    now = timezone.now()
    period = Period.default(timezone.localdate(now))
    shares = []
    split = grouped._shares

    def recorded(groups, cells):
        here, there = split(groups, cells)
        shares.append((len(here), len(there)))
        return here, there

    monkeypatch.setattr(grouped, "_shares", recorded)
    together = grouped.figures(scopes, period=period, now=now)
    past = grouped.forecasts_as_of(scopes, as_of=timezone.localdate(now), now=now)
    (here, there), _ = shares
    assert here and there  # each process had a share

    monkeypatch.setattr(grouped, "processes", lambda: 1)
    assert grouped.figures(scopes, period=period, now=now) == together
    assert grouped.forecasts_as_of(scopes, as_of=timezone.localdate(now), now=now) == past


def test_the_shares_keep_each_subtree_whole_and_cover_every_group(two_processes):
    rng = random.Random(8)
    cells = {}
    for owner in range(40):
        entries = grouped.Entries()
        for _ in range(rng.randint(0, 30)):
            entries.append((1, (1, None, False, 1), None, (None, None, 1)), [1] * 5)
        cells[(owner, rng.choice([None, 1, 2]), rng.choice([1, 2]))] = grouped.CellSums(
            entries=entries
        )
    every = tuple(cells)
    # The organisation, some nested teams, territories and pipelines, and a group twice over.
    groups = [every]
    for _ in range(25):
        size = rng.randint(1, len(every))
        groups.append(tuple(sorted(rng.sample(every, size), key=every.index)))
    groups = list(dict.fromkeys(groups))
    here, there = grouped._shares(groups, cells)
    assert sorted(here + there, key=groups.index) == groups
    assert set(here).isdisjoint(there)
    parent, _ = grouped._tree(groups)
    for group, above in parent.items():
        if above in parent:  # below the top, a subtree stays on one side
            assert (group in here) == (above in here), (group, above)


@pytest.mark.django_db
def test_a_failed_second_process_costs_only_time(two_processes, monkeypatch, caplog):
    scopes = _world(29, 80)
    now = timezone.now()
    period = Period.default(timezone.localdate(now))
    monkeypatch.setattr(grouped, "processes", lambda: 1)
    alone = grouped.figures(scopes, period=period, now=now)
    monkeypatch.setattr(grouped, "processes", lambda: 2)

    parent = os.getpid()
    models_of = grouped._models_of

    def broken(*args):
        if os.getpid() != parent:
            raise MemoryError("no room in the child")
        return models_of(*args)

    monkeypatch.setattr(grouped, "_models_of", broken)
    assert grouped.figures(scopes, period=period, now=now) == alone
    assert "no room in the child" in caplog.text

    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert grouped.figures(scopes, period=period, now=now) == alone
    assert "No second process for the model" in caplog.text
