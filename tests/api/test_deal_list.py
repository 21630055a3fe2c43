"""The deal list's pages hold what the plain queryset holds, in its order, however they are read.

The list reads each owner's first rows from an index and merges them, pages by number or by
cursor, and counts exactly only up to a bound: each is checked here against the plain
``deals_visible_to`` queryset with the same filters, ordered by the key then the id, on deals
with ties on every key, empty closing times, closed and deleted deals and several owners.
"""

import datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.db.models import F, Q
from django.utils import timezone

from pipeline.models import Deal, LostReason
from pipeline.selectors import deals_visible_to
from pipeline.services import LineItemSpec, deal_create, deal_delete, deal_move
from salesmgr.selectors import team_member_ids_subquery
from tests.conftest import need_postgres
from tests.factories import AccountFactory, ProductFactory

URL = "/api/v1/deals/"
SORTS = ["expected_close_date", "amount", "created_at", "updated_at", "name", "closed_at", "id"]


@pytest.fixture
def deals(admin, manager, rep, rep2, outsider, pipeline):
    """About forty deals over four owners: ties on every key, some won or lost, some deleted."""
    today = timezone.localdate()
    won = pipeline.stages.get(kind="won")
    lost = pipeline.stages.get(kind="lost")
    reason = LostReason.objects.create(name="Price")
    owners = [rep, rep2, manager, outsider]
    made = []
    for i in range(40):
        owner = owners[i % 4]
        deal = deal_create(
            by=owner,
            owner=owner,
            name=f"Deal {i % 7}",  # names repeat
            account=AccountFactory(owner=owner, name="Acme" if i % 5 == 0 else f"Other {i}"),
            pipeline=pipeline,
            amount=Decimal(100 * (i % 6)),  # amounts repeat, zero included
            expected_close_date=today + datetime.timedelta(days=i % 5),  # dates repeat
        )
        if i % 6 == 1:
            deal = deal_move(deal=deal, to_stage=won, by=owner, expected_version=deal.version)
        elif i % 6 == 2:
            deal = deal_move(
                deal=deal,
                to_stage=lost,
                by=owner,
                expected_version=deal.version,
                lost_reason=reason,
            )
        if i % 9 == 3:
            deal_delete(deal=deal, by=owner)
        made.append(deal)
    # Ties on the moments too: three groups of creation and update times, and closing times.
    moment = timezone.now().replace(microsecond=0)
    for i, deal in enumerate(made):
        Deal.objects.filter(pk=deal.pk).update(
            created_at=moment - datetime.timedelta(hours=i % 3),
            updated_at=moment - datetime.timedelta(minutes=i % 4),
        )
        if deal.closed_at is not None:
            Deal.objects.filter(pk=deal.pk).update(
                closed_at=moment - datetime.timedelta(days=i % 2)
            )
    return made


def _reference(user, ordering: str | None, filters: dict, *, deleted: bool = False) -> list[int]:
    """The plain queryset's ids: the same scope and filters, ordered by the keys, then the id."""
    deals = deals_visible_to(user, include_deleted=deleted)
    if deleted:
        deals = deals.filter(deleted_at__isnull=False)
    if "status" in filters:
        deals = deals.filter(status=filters["status"])
    if "owner" in filters:
        deals = deals.filter(owner_id=filters["owner"])
    if "team" in filters:
        deals = deals.filter(owner_id__in=team_member_ids_subquery(filters["team"]))
    if "amount_min" in filters:
        deals = deals.filter(amount__gte=filters["amount_min"])
    if "search" in filters:
        term = filters["search"]
        deals = deals.filter(
            Q(name__icontains=term)
            | Q(account__name__icontains=term)
            | Q(external_id__icontains=term)
        )
    terms = (ordering or "expected_close_date,id").split(",")
    if all(term.lstrip("-") != "id" for term in terms):
        terms.append("-id" if terms[-1].startswith("-") else "id")
    # Empty values last going up and first going down, as PostgreSQL sorts them (and the list on
    # every database); SQLite's own order puts them first going up.
    order = [
        F(term[1:]).desc(nulls_first=True) if term.startswith("-") else F(term).asc(nulls_last=True)
        for term in terms
    ]
    return list(deals.order_by(*order).values_list("pk", flat=True))


def _query(link: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlparse(link).query).items()}


def _walk_pages(client, params: dict) -> tuple[list[int], dict]:
    ids, query, first = [], {**params, "page_size": 7}, None
    while True:
        response = client.get(URL, query)
        assert response.status_code == 200, response.content
        body = response.json()
        first = first or body
        ids += [row["id"] for row in body["results"]]
        if body["next"] is None:
            return ids, first
        query = _query(body["next"])


def _walk_cursors(client, params: dict) -> list[int]:
    """Forwards from an empty cursor to the end, then backwards to the start: the same rows."""
    pages, query = [], {**params, "page_size": 7, "cursor": ""}
    while True:
        response = client.get(URL, query)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        if body["next"] is None:
            break
        query = _query(body["next"])
    forwards = [pk for page in pages for pk in page]
    backwards = [pages[-1]]
    while body["previous"] is not None:
        body = client.get(URL, _query(body["previous"])).json()
        backwards.insert(0, [row["id"] for row in body["results"]])
    assert backwards == pages
    return forwards


@pytest.mark.parametrize("ordering", [None, *SORTS, *(f"-{s}" for s in SORTS), "amount,-name"])
def test_every_ordering_lists_what_the_plain_queryset_lists(deals, client_for, manager, ordering):
    client = client_for(manager)
    params = {"ordering": ordering} if ordering else {}
    expected = _reference(manager, ordering, {})
    assert len(expected) > 20
    ids, first = _walk_pages(client, params)
    assert ids == expected
    assert (first["count"], first["count_exact"]) == (len(expected), True)
    if ordering != "amount,-name":
        assert _walk_cursors(client, params) == expected


@pytest.mark.parametrize("viewer", ["admin", "manager", "rep"])
@pytest.mark.parametrize(
    "filters",
    [
        {"status": "open"},
        {"status": "won"},
        {"owner": "rep2"},
        {"team": "manager"},
        {"amount_min": 300},
        {"search": "acme"},
        {"status": "lost", "search": "other"},
    ],
)
@pytest.mark.parametrize("ordering", [None, "-closed_at", "name"])
def test_filters_apply_and_keep_the_order(deals, client_for, request, viewer, filters, ordering):
    user = request.getfixturevalue(viewer)
    resolved = {
        name: request.getfixturevalue(value).pk if name in ("owner", "team") else value
        for name, value in filters.items()
    }
    params = {**resolved, **({"ordering": ordering} if ordering else {})}
    expected = _reference(user, ordering, resolved)
    client = client_for(user)
    ids, first = _walk_pages(client, params)
    assert ids == expected
    assert first["count"] == len(expected)
    assert _walk_cursors(client, params) == expected


def test_an_admin_lists_deleted_deals_apart(deals, client_for, admin):
    expected = _reference(admin, "-updated_at", {}, deleted=True)
    assert expected
    params = {"deleted": "true", "ordering": "-updated_at"}
    assert _walk_pages(client_for(admin), params)[0] == expected
    assert _walk_cursors(client_for(admin), params) == expected


def test_each_role_lists_only_what_it_may_see(
    deals, client_for, admin, manager, rep, rep2, outsider, other_manager
):
    live = [deal for deal in Deal.objects.filter(deleted_at__isnull=True)]
    owned = {user: {d.pk for d in live if d.owner_id == user.pk} for user in (rep, rep2, outsider)}
    seen = {
        admin: {d.pk for d in live},
        manager: {d.pk for d in live if d.owner_id != outsider.pk},
        rep: owned[rep],
        rep2: owned[rep2],
        other_manager: owned[outsider],
        outsider: owned[outsider],
    }
    for user, expected in seen.items():
        listed, _ = _walk_pages(client_for(user), {})
        assert set(listed) == expected, user.username
        assert len(listed) == len(expected)
    assert client_for(None).get(URL).status_code == 401


def test_a_large_list_answers_an_estimated_count_and_says_so(
    deals, client_for, manager, monkeypatch
):
    need_postgres()  # the estimate is PostgreSQL's planner's; SQLite's counts are all exact
    monkeypatch.setattr("pipeline.selectors.DEAL_COUNT_EXACT_UP_TO", 5)
    expected = _reference(manager, None, {})
    ids, first = _walk_pages(client_for(manager), {})
    assert ids == expected  # the pages do not depend on the count
    assert first["count_exact"] is False
    assert first["count"] > 5
    small, _ = _walk_pages(client_for(manager), {"search": "acme", "status": "open"})
    body = client_for(manager).get(URL, {"search": "acme", "status": "open"}).json()
    assert (body["count"], body["count_exact"]) == (len(small), True)


def test_rows_are_flat_and_line_items_come_on_request(client_for, rep, pipeline):
    product = ProductFactory(name="Widget")
    deal = deal_create(
        by=rep,
        owner=rep,
        name="Widgets",
        account=AccountFactory(owner=rep),
        pipeline=pipeline,
        expected_close_date=timezone.localdate(),
        external_id="crm-1",
        line_items=[LineItemSpec(product=product, quantity=Decimal("2.5"))],
    )
    deal = deal_move(
        deal=deal,
        to_stage=pipeline.stages.get(kind="lost"),
        by=rep,
        expected_version=deal.version,
        lost_reason=LostReason.objects.create(name="Timing"),
    )
    client = client_for(rep)
    detail = client.get(f"{URL}{deal.pk}/").json()
    [row] = client.get(URL).json()["results"]
    assert "line_items" not in row
    assert row == {key: value for key, value in detail.items() if key != "line_items"}
    [expanded] = client.get(URL, {"expand": "line_items"}).json()["results"]
    assert expanded == detail
    assert expanded["line_items"][0]["product_name"] == "Widget"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"expand": "contacts"}, "expand"),
        ({"page": "0"}, "page"),
    ],
)
def test_bad_paging_is_a_400_naming_the_field(deals, client_for, rep, params, field):
    response = client_for(rep).get(URL, params)
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("cursor", ["not-a-cursor", "e30", "eyJvIjoxfQ", "\u00c2\u008cav"])
def test_a_cursor_the_list_did_not_give_finds_no_page(deals, client_for, rep, cursor):
    response = client_for(rep).get(URL, {"cursor": cursor})
    assert response.status_code == 404, response.content


def test_a_cursor_follows_the_first_ordering_field_and_ignores_a_page(deals, client_for, manager):
    client = client_for(manager)
    expected = _reference(manager, "amount", {})
    first = client.get(URL, {"cursor": "", "ordering": "amount,-name", "page": "3"}).json()
    assert [row["id"] for row in first["results"]] == expected[:50]


def test_a_cursor_follows_only_its_own_ordering(deals, client_for, manager):
    client = client_for(manager)
    first = client.get(URL, {"cursor": "", "ordering": "amount", "page_size": 3}).json()
    cursor = _query(first["next"])["cursor"]
    moved = client.get(URL, {"cursor": cursor, "ordering": "name", "page_size": 3})
    assert moved.status_code == 404
    assert "another ordering" in moved.json()["detail"]


def test_a_page_past_the_end_is_a_404(deals, client_for, rep):
    assert client_for(rep).get(URL, {"page": 50}).status_code == 404
