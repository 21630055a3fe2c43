"""The deal list's two ways to a page answer alike: the walk of an index over every live deal, and
the per-owner merge it falls back on.

Each way is forced in turn (the walk tried for every sort with no share needed, or never tried;
and a walk bounded so low that it fills some pages and not others) on random deals drawn with a
fixed seed: owners with many deals, few and none, dates, amounts, names and closing times with
ties, empty closing times, closed and deleted deals. Every page, by number and by cursor forwards
and backwards, must hold the same ids in the same order with the same count, and be the plain
queryset's.
"""

import datetime
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipeline import selectors
from pipeline.models import Deal
from pipeline.services import deal_delete
from salesmgr.models import User
from tests.api.test_deal_list import URL, _reference, _walk_cursors, _walk_pages
from tests.conftest import need_postgres
from tests.factories import AccountFactory, DealFactory, UserFactory

SORTS = selectors.DEAL_LIST_SORTS
ORDERINGS = [None, *SORTS, *(f"-{s}" for s in SORTS)]


@pytest.fixture
def drawn(db, admin, manager, rep, rep2, outsider, pipeline):
    """Sixty deals drawn at random: most of the team's to one rep, a few to the manager, none to
    a third rep; some won or lost (closed at one of three moments), some deleted."""
    need_postgres()
    draw = random.Random(14)
    idle = UserFactory(username="rep3", manager=manager)  # in the team, owns nothing
    stages = {stage.kind: stage for stage in pipeline.stages.all()}
    today = timezone.localdate()
    moment = timezone.now().replace(microsecond=0)
    accounts = {owner: AccountFactory(owner=owner) for owner in (rep, rep2, manager, outsider)}
    weights = [(rep, 6), (rep2, 3), (manager, 1), (outsider, 3)]
    owners = [owner for owner, weight in weights for _ in range(weight)]
    made = []
    for _ in range(60):
        owner = draw.choice(owners)
        deal = DealFactory(
            owner=owner,
            account=accounts[owner],
            pipeline=pipeline,
            name=f"Deal {draw.randrange(8)}",
            amount=Decimal(draw.choice([0, 50, 50, 125, 900])),
            expected_close_date=today + datetime.timedelta(days=draw.randrange(-3, 4)),
        )
        kind = draw.choice(["open", "open", "won", "lost"])
        changes = {
            "created_at": moment - datetime.timedelta(hours=draw.randrange(4)),
            "updated_at": moment - datetime.timedelta(minutes=draw.randrange(5)),
        }
        if kind != "open":
            changes.update(
                stage=stages[kind],
                status=kind,
                closed_at=moment - datetime.timedelta(days=draw.randrange(3)),
            )
        Deal.objects.filter(pk=deal.pk).update(**changes)
        if draw.random() < 0.12:
            deal_delete(deal=Deal.objects.get(pk=deal.pk), by=owner)
        made.append(deal)
    assert not Deal.objects.filter(owner=idle).exists()
    return made


WAYS = {
    # Tried for every sort whatever the share, over every row: it fills every full page.
    "walk": {"DEAL_WALKED_SORTS": frozenset(SORTS), "DEAL_WALK_MARGIN": 0},
    # Walks of twelve rows: some pages filled by the walk, the others merged.
    "short walk": {
        "DEAL_WALKED_SORTS": frozenset(SORTS),
        "DEAL_WALK_MARGIN": 0,
        "DEAL_WALK_ROWS": 12,
    },
    # Never tried.
    "merge": {"DEAL_WALKED_SORTS": frozenset()},
}


@pytest.fixture
def way(monkeypatch):
    """Set the list to answer one way; the pages' ``walked`` flags are kept in ``way.walked``."""
    from pipeline.api import deal_list

    answered = []

    def recorded(*args, **kwargs):
        page = selectors.deal_list_page(*args, **kwargs)
        answered.append(page.walked)
        return page

    monkeypatch.setattr(deal_list, "deal_list_page", recorded)

    class Way:
        walked = answered

        def __call__(self, name):
            for setting, value in WAYS[name].items():
                monkeypatch.setattr(selectors, setting, value)
            answered.clear()

    return Way()


def _answers(client, params):
    ids, first = _walk_pages(client, params)
    return ids, (first["count"], first["count_exact"]), _walk_cursors(client, params)


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_the_walk_and_the_merge_list_the_same_pages(drawn, client_for, manager, way, ordering):
    client = client_for(manager)
    params = {"ordering": ordering} if ordering else {}
    expected = _reference(manager, ordering, {})
    assert len(expected) > 20
    answers = {}
    for name in WAYS:
        way(name)
        answers[name] = _answers(client, params)
        walked = set(way.walked)
        assert (
            walked == {"walk": {True, False}, "short walk": {True, False}, "merge": {False}}[name]
        ), name  # the walk fills every full page; the last ones, short, are merged
    assert answers["walk"] == answers["short walk"] == answers["merge"]
    ids, count, cursors = answers["walk"]
    assert ids == cursors == expected
    assert count == (len(expected), True)


@pytest.mark.parametrize(
    "viewer, filters",
    [
        ("manager", {"status": "open"}),
        ("manager", {"status": "won"}),
        ("manager", {"owner": "rep3"}),
        ("manager", {"search": "3"}),
        ("manager", {"amount_min": 100}),
        ("admin", {}),
        ("admin", {"team": "manager"}),
        ("rep", {}),
        ("rep3", {}),
        ("other_manager", {}),
    ],
)
@pytest.mark.parametrize("ordering", [None, "-expected_close_date", "closed_at", "-closed_at"])
def test_filtered_lists_answer_alike_either_way(
    drawn, client_for, request, way, viewer, filters, ordering
):
    user = User.objects.get(username={"other_manager": "othermanager"}.get(viewer, viewer))
    resolved = {
        name: User.objects.get(username=value).pk if name in ("owner", "team") else value
        for name, value in filters.items()
    }
    params = {**resolved, **({"ordering": ordering} if ordering else {})}
    expected = _reference(user, ordering, resolved)
    client = client_for(user)
    answers = {}
    for name in WAYS:
        way(name)
        answers[name] = _answers(client, params)
        assert name != "merge" or not any(way.walked)
    assert answers["walk"] == answers["short walk"] == answers["merge"]
    ids, count, cursors = answers["merge"]
    assert ids == cursors == expected
    assert count == (len(expected), True)


def test_deleted_deals_are_never_walked(drawn, client_for, admin, way):
    """The walked index holds live deals only: a list of deleted ones is always merged."""
    way("walk")
    params = {"deleted": "true", "ordering": "expected_close_date"}
    expected = _reference(admin, "expected_close_date", {}, deleted=True)
    assert expected
    assert _walk_pages(client_for(admin), params)[0] == expected
    assert _walk_cursors(client_for(admin), params) == expected
    assert way.walked and not any(way.walked)


def test_the_walk_is_tried_only_for_a_large_share_of_all_deals(
    drawn, client_for, admin, manager, way
):
    """By default the walk is tried when the list's share of all deals should fill the page in
    fewer rows than the merge reads: a tiny list of one owner is merged, the admin's walked."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pipeline_deal")
    rep3 = User.objects.get(username="rep3")
    client_for(manager).get(URL, {"owner": rep3.pk, "page_size": 7})
    client_for(manager).get(URL, {"page_size": 7})
    client_for(admin).get(URL, {"page_size": 7})
    assert way.walked == [False, True, True]


@pytest.mark.parametrize("ordering", ["amount", "-amount"])
def test_a_large_share_sorted_by_amount_is_walked_by_default(
    drawn, client_for, admin, manager, way, ordering
):
    """Amount is a walked sort (``deal_live_amount_idx``): with the default settings the admin's
    list by amount, either way round, is walked and is the plain queryset's."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE pipeline_deal")
    expected = _reference(admin, ordering, {})
    client = client_for(admin)
    response = client.get(URL, {"ordering": ordering, "page_size": 7})
    assert response.status_code == 200
    assert way.walked == [True]
    assert [row["id"] for row in response.json()["results"]] == expected[:7]
    assert _walk_pages(client, {"ordering": ordering})[0] == expected


@pytest.mark.parametrize("name", list(WAYS))
def test_either_way_takes_the_same_queries_at_two_sizes(db, client_for, manager, rep, way, name):
    """One statement for the page whichever way answers, the same at 10 deals and at 40."""
    need_postgres()
    way(name)
    client = client_for(manager)
    counts = []
    for size in (10, 40):
        while Deal.objects.count() < size:
            DealFactory(owner=rep)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, {"page_size": 7}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] == 3  # the user's team, the page with its count, the rows
