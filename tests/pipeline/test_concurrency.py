"""Concurrent writers on PostgreSQL: row locks and versions keep every write whole."""

from decimal import Decimal

import pytest

from pipeline.models import Deal
from pipeline.services import deal_move, deal_update
from salesmgr.errors import ConflictError
from tests.conftest import need_postgres, run_together
from tests.factories import DealFactory, PipelineFactory, UserFactory

WRITERS = 20


def _race(action):
    """Run ``action`` in WRITERS threads at once: "ok", "conflict", or the unexpected error."""

    def attempt():
        try:
            action()
        except ConflictError:
            return "conflict"
        return "ok"

    return [o if isinstance(o, str) else repr(o) for o in run_together(WRITERS, attempt)]


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
        lambda: deal_move(
            deal=Deal.objects.get(pk=deal.pk), to_stage=target, by=owner, expected_version=1
        )
    )

    assert sorted(outcomes) == ["conflict"] * (WRITERS - 1) + ["ok"]
    deal.refresh_from_db()
    assert deal.version == 2
    assert deal.transitions.count() == 2


def test_twenty_concurrent_updates_with_one_version_let_exactly_one_through(contested):
    owner, _, deal = contested

    outcomes = _race(
        lambda: deal_update(
            deal=Deal.objects.get(pk=deal.pk),
            by=owner,
            expected_version=1,
            amount=Decimal("777.00"),
        )
    )

    assert sorted(outcomes) == ["conflict"] * (WRITERS - 1) + ["ok"]
    deal.refresh_from_db()
    assert deal.version == 2
    assert Deal.history.filter(id=deal.pk).count() == 2
