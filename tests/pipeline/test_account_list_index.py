"""The accounts list in its default order (name, id) reads its page off ``account_live_name_idx``
when the reader sees most accounts: a walk of a few dozen index rows, not a join and sort of every
visible account. The page is the same either way (the plain ordered queryset's)."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline.models import Account
from salesmgr.models import Role, User
from tests.conftest import need_postgres


@pytest.fixture
def many_accounts(db, admin, manager, rep, rep2, outsider):
    """3,000 accounts with names drawn at random, most of them the manager's team's, some deleted."""
    need_postgres()
    draw = random.Random(46)
    owners = [rep, rep, rep2, rep2, manager, outsider]
    Account.objects.bulk_create(
        Account(
            name=f"{draw.choice('ABCDEFGHJK')}{draw.randrange(10**6):06d}",
            owner=draw.choice(owners),
            deleted_at=None if draw.random() > 0.05 else rep.date_joined,
        )
        for _ in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pipeline_account")


def _page_query(client, url) -> str:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return next(
        query["sql"]
        for query in queries
        if 'FROM "pipeline_account"' in query["sql"] and "ORDER BY" in query["sql"]
    )


@pytest.mark.parametrize("url", ["/accounts/", "/api/v1/accounts/"])
def test_a_manager_reads_the_page_off_the_name_index(many_accounts, client, manager, url):
    client.force_login(manager)
    sql = _page_query(client, url)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "account_live_name_idx" in plan, plan


@pytest.mark.parametrize("username", ["manager", "rep", "admin"])
def test_the_page_is_the_plain_ordered_querysets(many_accounts, client, username):
    from pipeline.selectors import accounts_visible_to

    user = User.objects.get(username=username)
    assert user.role in (Role.ADMIN, Role.MANAGER, Role.REP)
    client.force_login(user)
    expected = list(
        accounts_visible_to(user)
        .filter(deleted_at__isnull=True)
        .order_by("name", "id")
        .values_list("name", flat=True)[:25]
    )
    results = client.get("/api/v1/accounts/", {"page_size": 25}).json()["results"]
    assert [row["name"] for row in results] == expected
