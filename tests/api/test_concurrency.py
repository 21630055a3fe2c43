"""Twenty API clients race on one deal over PostgreSQL: one wins, the rest get 409."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from pipeline.models import Deal
from tests.conftest import need_postgres, run_together
from tests.factories import DealFactory, PipelineFactory, UserFactory

CLIENTS = 20


def _race(owner, request):
    """Send ``request(client)`` from CLIENTS threads released together; return the status codes."""

    def attempt():
        client = APIClient()
        client.force_authenticate(owner)
        return request(client).status_code

    return sorted(run_together(CLIENTS, attempt), key=str)


@pytest.fixture
def contested(transactional_db):
    need_postgres()
    owner = UserFactory(username="racer")
    pipeline = PipelineFactory()
    return owner, pipeline, DealFactory(owner=owner, pipeline=pipeline)


def test_concurrent_moves_with_one_version(contested):
    owner, pipeline, deal = contested
    discovery = pipeline.stages.get(name="Discovery")
    codes = _race(
        owner,
        lambda c: c.post(f"/api/v1/deals/{deal.pk}/move/", {"stage": discovery.pk, "version": 1}),
    )
    assert codes == [200] + [409] * (CLIENTS - 1)
    deal.refresh_from_db()
    assert deal.version == 2
    assert deal.transitions.count() == 2


def test_concurrent_updates_with_one_version(contested):
    owner, _, deal = contested
    codes = _race(
        owner, lambda c: c.patch(f"/api/v1/deals/{deal.pk}/", {"amount": "4321.00", "version": 1})
    )
    assert codes == [200] + [409] * (CLIENTS - 1)
    deal.refresh_from_db()
    assert deal.amount == Decimal("4321.00")
    assert Deal.history.filter(id=deal.pk).count() == 2


def test_concurrent_updates_with_one_if_match_all_lose_with_412(contested):
    """Whether a loser reads the deal before or after the winner's write, its answer is the same 412."""
    owner, _, deal = contested
    etag = f'"{deal.pk}.1"'
    codes = _race(
        owner,
        lambda c: c.patch(f"/api/v1/deals/{deal.pk}/", {"amount": "777.00"}, HTTP_IF_MATCH=etag),
    )
    assert codes == [200] + [412] * (CLIENTS - 1)


def test_concurrent_moves_with_one_if_match_all_lose_with_412(contested):
    owner, pipeline, deal = contested
    discovery = pipeline.stages.get(name="Discovery")
    etag = f'"{deal.pk}.1"'
    codes = _race(
        owner,
        lambda c: c.post(
            f"/api/v1/deals/{deal.pk}/move/",
            {"stage": discovery.pk, "version": 1},
            HTTP_IF_MATCH=etag,
        ),
    )
    assert codes == [200] + [412] * (CLIENTS - 1)
    deal.refresh_from_db()
    assert deal.version == 2
