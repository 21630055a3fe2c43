"""The activity list (``GET /api/v1/activities/``) read in parts and merged answers exactly what
``activities_visible_to`` does: the same rows in the same order, the same hidden deals and
accounts, page by page and cursor by cursor, for the six roles, on data that mixes every reason
to see an activity (a deal in reach, an account in reach or in a covered territory, one's own
note on a deal or account since given away, someone else's note on a deal in reach, a deleted
deal) with ties in time.
"""

import datetime
import random

import pytest
from django.utils import timezone

from pipeline import selectors
from pipeline.models import Account, Activity, Deal
from pipeline.selectors import activities_visible_to
from quotas.models import Territory
from tests.factories import AccountFactory, DealFactory, UserFactory

API = "/api/v1/activities/"
PAGE = 7


@pytest.fixture
def world(admin, manager, rep, rep2, other_manager, outsider, pipeline):
    """Activities of every kind of reach, written straight into the table (any author)."""
    lead = UserFactory(username="lead", role="manager", manager=manager, full_name="Lee Lead")
    deep = UserFactory(username="deep", manager=lead, full_name="Dee Deep")
    people = [admin, manager, rep, rep2, other_manager, outsider, lead, deep]
    territory = Territory.objects.create(name="North")
    territory.reps.add(rep)
    deals, accounts = [], []
    for person in people:
        account = AccountFactory(owner=person)
        accounts.append(account)
        deals.append(DealFactory(owner=person, account=account, pipeline=pipeline))
    # An outsider's account in rep's territory; a deal of rep's gone to the outsider; a deleted
    # deal of rep's; an account of rep's gone to the other team.
    accounts.append(AccountFactory(owner=outsider, territory=territory))
    given = DealFactory(owner=rep, pipeline=pipeline)
    Deal.objects.filter(pk=given.pk).update(owner=outsider)
    deleted = DealFactory(owner=rep, pipeline=pipeline)
    Deal.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())
    deals += [given, deleted]
    gone = AccountFactory(owner=rep)
    type(gone).objects.filter(pk=gone.pk).update(owner=other_manager)
    accounts.append(gone)

    chance = random.Random(14)
    base = timezone.now().replace(microsecond=0) - datetime.timedelta(days=30)
    rows = []
    for i in range(160):
        author = chance.choice(people)
        on_deal = chance.random() < 0.7
        deal = chance.choice(deals) if on_deal else None
        rows.append(
            Activity(
                kind=chance.choice(["note", "call", "email"]),
                subject=f"{'Call' if i % 3 else 'Note'} {i}",
                author=author,
                deal=deal,
                account=deal.account if deal else chance.choice(accounts),
                # Few distinct moments: many ties, broken by the id.
                occurred_at=base + datetime.timedelta(hours=chance.randrange(40)),
            )
        )
    Activity.objects.bulk_create(rows)
    return {
        "admin": admin,
        "manager": manager,
        "rep": rep,
        "rep2": rep2,
        "other_manager": other_manager,
        "outsider": outsider,
        "lead": lead,
        "deep": deep,
    }


def _expected(user, ordering=("-occurred_at", "-id"), **filters):
    activities = activities_visible_to(user).filter(**filters).order_by(*ordering)
    return [
        (a.pk, a.shown_deal.pk if a.shown_deal else None, a.account_id if a.shown_account else None)
        for a in activities.select_related("deal", "account")
    ]


def _rows(body):
    return [(row["id"], row["deal"], row["account"]) for row in body["results"]]


def _by_pages(client, params):
    rows, page = [], 1
    while True:
        body = client.get(API, {**params, "page": page, "page_size": PAGE}).json()
        rows += _rows(body)
        if body["next"] is None:
            return rows, body
        page += 1


def _by_cursor(client, params):
    rows, link, pages = [], None, []
    body = client.get(API, {**params, "cursor": "", "page_size": PAGE}).json()
    while True:
        pages.append(body)
        rows += _rows(body)
        link = body["next"]
        if link is None:
            return rows, pages
        body = client.get(link).json()


ROLES = ["admin", "manager", "rep", "rep2", "outsider", "other_manager", "lead", "deep"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "ordering", [("-occurred_at", "-id"), ("occurred_at", "id"), ("-id",), ("id",)]
)
def test_every_page_and_cursor_holds_what_the_plain_selector_does(
    world, client_for, role, ordering
):
    user = world[role]
    client = client_for(user)
    expected = _expected(user, ordering)
    assert expected, "every role sees something"
    params = {"ordering": ",".join(ordering)}
    paged, last = _by_pages(client, params)
    assert paged == expected
    assert last["count"] == len(expected) and last["count_exact"] is True
    cursored, pages = _by_cursor(client, {"ordering": ordering[0]})
    assert cursored == expected
    # Back from the last page by its previous links, the same rows.
    back, body = [], pages[-1]
    while body["previous"] is not None:
        body = client.get(body["previous"]).json()
        back = _rows(body) + back
    assert back + _rows(pages[-1]) == expected


@pytest.mark.parametrize("role", ROLES)
def test_filters_and_search_narrow_alike(world, client_for, role):
    user = world[role]
    client = client_for(user)
    rep, outsider = world["rep"], world["outsider"]
    some_deal = Activity.objects.filter(deal__owner=rep).values_list("deal_id", flat=True)[0]
    cases = [
        ({"kind": "call"}, {"kind": "call"}),
        ({"author": rep.pk}, {"author": rep}),
        ({"author": outsider.pk}, {"author": outsider}),
        ({"search": "Note"}, {"subject__icontains": "Note"}),
    ]
    for params, filters in cases:
        assert _by_pages(client, params)[0] == _expected(user, **filters), params
    # deal= lists only activities whose deal the reader sees.
    seen = [row for row in _expected(user, deal_id=some_deal) if row[1] is not None]
    assert _by_pages(client, {"deal": some_deal})[0] == seen


def test_the_former_owner_keeps_their_notes_without_the_deal(world, client_for):
    rep = world["rep"]
    rows = _by_pages(client_for(rep), {})[0]
    hidden = Activity.objects.filter(author=rep, deal__isnull=False).exclude(
        deal__owner=rep, deal__deleted_at__isnull=True
    )
    assert hidden.exists()
    listed = {pk: deal for pk, deal, _ in rows}
    for activity in hidden:
        assert listed[activity.pk] is None


def test_past_the_bound_the_count_is_estimated(world, client_for, monkeypatch):
    from tests.conftest import need_postgres

    need_postgres()  # the planner's estimate; SQLite counts every row
    monkeypatch.setattr(selectors, "ACTIVITY_COUNT_EXACT_UP_TO", 5)
    for role in ("admin", "manager", "rep"):
        body = client_for(world[role]).get(API).json()
        total = len(_expected(world[role]))
        assert body["count_exact"] is False, role
        assert body["count"] >= 6
        assert len(body["results"]) == min(total, 50)


def test_the_readers_own_notes_elsewhere_count_exactly_under_the_bound(world, client_for):
    # rep's notes on the deal given away and the account gone count, once each.
    rep = world["rep"]
    body = client_for(rep).get(API, {"page_size": 1}).json()
    assert body["count"] == len(_expected(rep)) and body["count_exact"] is True


def _shown(activities) -> dict:
    return {a.pk: (a.deal_shown, a.account_shown) for a in activities}


def test_a_deal_or_account_timeline_is_the_list_narrowed_with_the_same_flags(world):
    """The pages' timelines (``deal=`` or ``account=``) hold exactly the list's rows for that
    record, each with the same shown deal and account, for every role."""
    deals = list(Deal.objects.all())
    accounts = list(Account.objects.all())
    for role, user in world.items():
        listed = {a.pk: (a.deal_id, a.account_id) for a in activities_visible_to(user)}
        flags = _shown(activities_visible_to(user))
        for deal in deals:
            expected = {pk: flags[pk] for pk, (deal_id, _) in listed.items() if deal_id == deal.pk}
            assert _shown(activities_visible_to(user, deal=deal)) == expected, (role, deal.pk)
        for account in accounts:
            expected = {
                pk: flags[pk] for pk, (_, account_id) in listed.items() if account_id == account.pk
            }
            assert _shown(activities_visible_to(user, account=account)) == expected, (role, account)


@pytest.mark.parametrize("role", ["manager", "rep", "outsider"])
def test_a_timeline_checks_its_one_record_once_not_row_by_row(world, role):
    """At a million deals, checking the account of each row of a timeline hashed every account
    the reader may see first (65-85 ms a page); the timeline's own deal or account is the same
    for every row, so it is checked once, and a row's account only when its deal is not seen."""
    deal = Deal.objects.filter(owner=world["rep"]).first()
    by_deal = str(activities_visible_to(world[role], deal=deal).query)
    by_account = str(activities_visible_to(world[role], account=deal.account).query)
    assert '= ("pipeline_activity"."deal_id")' not in by_deal
    assert '= ("pipeline_activity"."account_id")' not in by_account


@pytest.mark.parametrize("field", selectors.ACTIVITY_LIST_SORTS)
def test_the_readers_own_part_has_an_index_in_each_order_of_the_list(field):
    """The part of the reader's own activities is read for its first rows in the list's order:
    an index of (author, that order) serves it as a range. Without one, the planner walked the
    whole list's index looking for the reader's rows (13 s at 3.5M activities for a manager who
    wrote none)."""
    orders = {tuple(index.fields) for index in Activity._meta.indexes}
    wanted = ("author", field) if field == "id" else ("author", field, "id")
    assert wanted in orders


def test_the_count_bounds_each_part_on_its_own(world, client_for):
    """Each part of the count is cut at the bound itself, so each is planned for its first rows
    (a hash of every deal in reach cost 300 ms for a manager at 1,000,000 deals)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the merged statement is PostgreSQL's")
    with CaptureQueriesContext(connection) as queries:
        client_for(world["manager"]).get(API)
    [statement] = [query["sql"] for query in queries if "n_apart" in query["sql"]]
    counted = statement.split("AS n_apart FROM (")[1].split("AS bounded")[0]
    bound = selectors.ACTIVITY_COUNT_EXACT_UP_TO + 1
    assert counted.count(f"LIMIT {bound}") == 3  # each of the two parts, and their union
