"""The deals list sorted by account (``deal_ids_by_account``): a page is the same whether the names
are walked in order (a large list, on PostgreSQL) or the listed deals are sorted (a small one),
and both are the plain ``ORDER BY account name, id``: accounts that share a name interleave their
deals by id, and a deleted account's closed deals keep their place."""

import random

import pytest
from django.db import connection
from django.utils import timezone

from pipeline.models import Account, Deal
from pipeline.selectors import deal_ids_by_account
from tests.conftest import need_postgres
from tests.factories import AccountFactory, DealFactory


@pytest.fixture
def listed(rep, rep2, outsider, pipeline):
    rng = random.Random(14)
    names = ["Acme", "Acme", "Beta", "acme", "Zeta", "Ñandú", "Beta", "Gamma"]
    accounts = [AccountFactory(owner=rng.choice([rep, rep2]), name=name) for name in names]
    for _ in range(40):
        DealFactory(
            owner=rng.choice([rep, rep2, outsider]),
            account=rng.choice(accounts),
            pipeline=pipeline,
        )
    # A deleted account keeps its deals in the list (closed ones, in life).
    Account.objects.filter(pk=accounts[4].pk).update(deleted_at=timezone.now())
    return Deal.objects.filter(deleted_at__isnull=True, owner__in=[rep, rep2])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("large", [False, True])
def test_every_page_is_the_plain_order_by_account_name_then_id(listed, descending, large):
    order = ("-account__name", "-id") if descending else ("account__name", "id")
    expected = list(listed.order_by(*order).values_list("pk", flat=True))
    assert len(expected) > 20
    for offset in (0, 3, 7, 20, len(expected) - 2, len(expected) + 5):
        found = deal_ids_by_account(
            listed, descending=descending, offset=offset, limit=6, large=large
        )
        assert found == expected[offset : offset + 6], offset


def test_a_page_views_deals_sorted_by_account_read_the_same_either_way(client, rep, listed):
    client.force_login(rep)
    for sort in ("account", "-account"):
        response = client.get(f"/deals/?sort={sort}")
        assert response.status_code == 200
        shown = [row["pk"] for row in response.context["page"].rows]
        own = listed.filter(owner=rep).order_by(
            *(("-account__name", "-id") if sort.startswith("-") else ("account__name", "id"))
        )
        assert shown == list(own.values_list("pk", flat=True)[:50])


@pytest.mark.parametrize("large", [False, True])
def test_a_list_nothing_can_meet_has_no_page(listed, large):
    for nothing in (Deal.objects.none(), listed.filter(pk__in=[])):
        assert deal_ids_by_account(nothing, descending=False, offset=0, limit=6, large=large) == []


@pytest.mark.django_db(transaction=True)
def test_the_serial_plan_of_a_large_list_lasts_for_its_statement_alone(rep, pipeline):
    """A large list is planned without parallel workers (``SERIAL_PLAN``), sent with its statement
    as one transaction of their own: outside a transaction, as a request reads it, the next
    statement is planned with the server's setting again."""
    need_postgres()
    account = AccountFactory(owner=rep, name="Acme")
    deals = [DealFactory(owner=rep, account=account, pipeline=pipeline) for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        before = cursor.fetchone()[0]
    assert before != "0"
    listed = Deal.objects.filter(owner=rep)
    found = deal_ids_by_account(listed, descending=False, offset=0, limit=6, large=True)
    assert found == sorted(deal.pk for deal in deals)
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] == before
