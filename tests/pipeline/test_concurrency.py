"""Concurrent writers on PostgreSQL: row locks and versions keep every write whole."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from pipeline.models import Deal
from pipeline.services import deal_move, deal_update
from salesmgr.errors import ConflictError
from tests.conftest import need_postgres
from tests.factories import DealFactory, PipelineFactory, UserFactory

WRITERS = 20


def _race(action):
    """Run ``action`` in WRITERS threads released at once; returns their outcomes."""
    barrier = threading.Barrier(WRITERS)
    outcomes = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            action()
            result = "ok"
        except ConflictError:
            result = "conflict"
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
            result = repr(exc)
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def contested(transactional_db):
    need_postgres()
    owner = UserFactory(username="racer")
    pipeline = PipelineFactory()
    return owner, pipeline, DealFactory(owner=owner, pipeline=pipeline)


def test_twenty_concurrent_moves_with_one_version_let_exactly_one_through(contested):
    owner, pipeline, deal = contested
    target = pipeline.stages.get(name="Discovery")

    outcomes = _race(
        lambda: deal_move(deal=Deal.objects.get(pk=deal.pk), to_stage=target, by=owner, expected_version=1)
    )

    assert sorted(outcomes) == ["conflict"] * (WRITERS - 1) + ["ok"]
    deal.refresh_from_db()
    assert deal.version == 2
    assert deal.transitions.count() == 2


def test_twenty_concurrent_updates_with_one_version_let_exactly_one_through(contested):
    owner, _, deal = contested

    outcomes = _race(
        lambda: deal_update(
            deal=Deal.objects.get(pk=deal.pk), by=owner, expected_version=1, amount=Decimal("777.00")
        )
    )

    assert sorted(outcomes) == ["conflict"] * (WRITERS - 1) + ["ok"]
    deal.refresh_from_db()
    assert deal.version == 2
    assert Deal.history.filter(id=deal.pk).count() == 2
