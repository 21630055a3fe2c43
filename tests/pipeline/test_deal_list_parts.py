"""The deals page sorted by a key the old closed deals come first in (the close date or the
creation, ascending) reads each owner's open deals and those closed in the period apart, and
lists exactly what the period's list holds, in order, whoever reads it and however filtered."""

import datetime
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Deal, StageKind
from pipeline.periods import Period
from tests.factories import DealFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(manager, rep, rep2, outsider, pipeline, stages):
    """Deals of four owners over two years: open ones due long ago, lately or later; won and
    lost ones closed before the period and within it, each expected to close anywhere from a
    year before it closed to after; a few deleted. Drawn, not designed for the answer."""
    draw = random.Random(20261204)
    today = timezone.localdate()
    won = next(stage for stage in stages.values() if stage.kind == StageKind.WON)
    lost = next(stage for stage in stages.values() if stage.kind == StageKind.LOST)
    rep3 = UserFactory(username="rep3", manager=rep, full_name="Rory Rep")
    owners = [rep, rep2, rep3, outsider, manager]
    for index in range(90):
        owner = draw.choice(owners)
        deal = DealFactory(
            owner=owner,
            pipeline=pipeline,
            name=draw.choice(["Acme", "Globex", "Initech", "Umbrella"]) + f" {index}",
            amount=Decimal(draw.randrange(100, 90_000)),
        )
        created = timezone.now() - datetime.timedelta(days=draw.randrange(0, 730))
        change = {
            "created_at": created,
            "expected_close_date": today + datetime.timedelta(days=draw.randrange(-400, 200)),
        }
        if draw.random() < 0.65:
            closed = created + datetime.timedelta(days=draw.randrange(0, 400))
            closed = min(closed, timezone.now() - datetime.timedelta(hours=1))
            stage = won if draw.random() < 0.5 else lost
            change |= {
                "status": stage.kind,
                "stage": stage,
                "closed_at": closed,
                "expected_close_date": closed.date()
                + datetime.timedelta(days=draw.randrange(-365, 30)),
            }
        if draw.random() < 0.05:
            change["deleted_at"] = timezone.now()
        Deal.objects.filter(pk=deal.pk).update(**change)


def _expected(user, *, period: Period, sort: str, status: str = "", search: str = "") -> list[int]:
    """The list worked out in Python from every deal: live, in reach, open or closed in the
    period, then the filters, in (key, id) order."""
    from salesmgr.selectors import team_with_self

    start, end = period.bounds
    if user.is_admin:
        reach = None
    elif user.is_manager:  # their team, the page's first scope for them
        reach = {person.pk for person in team_with_self(user)} - {user.pk}
    else:
        reach = {user.pk}
    rows = [
        deal
        for deal in Deal.objects.all()
        if deal.deleted_at is None
        and (reach is None or deal.owner_id in reach)
        and (deal.status == StageKind.OPEN or start <= deal.closed_at < end)
        and (not status or deal.status == status)
        and (not search or search.lower() in deal.name.lower())
    ]
    if sort == "":  # open deals first by close date, then the closed ones latest first
        rows.sort(
            key=lambda deal: (
                deal.closed_at is not None,
                -deal.closed_at.timestamp() if deal.closed_at else 0,
                deal.expected_close_date,
                deal.pk,
            )
        )
    else:
        key = {"close": "expected_close_date", "created": "created_at"}[sort]
        rows.sort(key=lambda deal: (getattr(deal, key), deal.pk))
    return [deal.pk for deal in rows]


def _listed(client, query: str) -> list[int]:
    ids, number = [], 1
    while True:
        response = client.get(f"{reverse('deal-list')}?{query}&page={number}")
        assert response.status_code == 200
        page = response.context["page"]
        ids += [row["pk"] for row in page.rows]
        if not page.has_next:
            return ids
        number += 1


@pytest.mark.parametrize("who", ["admin", "manager", "rep", "outsider"])
@pytest.mark.parametrize("sort", ["close", "created"])
@pytest.mark.parametrize("preset", ["30d", "90d", "ytd"])
def test_every_page_lists_the_periods_deals_in_order(client, request, history, who, sort, preset):
    user = request.getfixturevalue(who)
    client.force_login(user)
    period = Period.named(preset, timezone.localdate())
    listed = _listed(client, f"sort={sort}&period={preset}")
    assert listed == _expected(user, period=period, sort=sort)


@pytest.mark.parametrize("sort", ["close", "created"])
@pytest.mark.parametrize("status", ["open", "won", "lost"])
@pytest.mark.parametrize("search", ["", "glob"])
def test_filters_and_search_apply_to_both_parts(client, manager, history, sort, status, search):
    client.force_login(manager)
    period = Period.named("90d", timezone.localdate())
    listed = _listed(client, f"sort={sort}&period=90d&status={status}&q={search}")
    assert listed == _expected(manager, period=period, sort=sort, status=status, search=search)


def test_the_open_deals_and_the_periods_closed_ones_are_read_apart(client, manager, history):
    """Ascending by close date or creation, the page's statement reads each owner's open deals
    and their deals closed in the period as two reads; descending (where the open deals come
    first anyway), as one."""

    def statement(sort: str) -> str:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{reverse('deal-list')}?sort={sort}").status_code == 200
        [listing] = [query["sql"] for query in queries if "LATERAL" in query["sql"]]
        return listing

    client.force_login(manager)
    if connection.vendor != "postgresql":
        pytest.skip("the per-owner merge is PostgreSQL's")
    per_owner = '"pipeline_deal"."owner_id" = ("deal_owners"."id")'
    assert statement("close").count(per_owner) == 2
    assert statement("-close").count(per_owner) == 1
    assert statement("created").count(per_owner) == 2
    assert statement("-created").count(per_owner) == 1


@pytest.mark.parametrize("who", ["admin", "manager", "rep", "outsider"])
@pytest.mark.parametrize("preset", ["30d", "90d", "ytd"])
@pytest.mark.parametrize("walk_rows", [None, 12])
def test_every_page_in_the_default_order_lists_the_periods_deals(
    client, request, monkeypatch, history, who, preset, walk_rows
):
    """In the default order a page may be found walking every live deal in that order (the
    list is its front): pages of seven, and walks of twelve rows past the offset tried
    whatever the share, so that some pages are walked and others merged, list the same."""
    from pipeline import selectors

    monkeypatch.setattr("pipeline.views.deals.PAGE_SIZE", 7)
    if walk_rows is not None:
        monkeypatch.setattr(selectors, "DEAL_WALK_ROWS", walk_rows)
        monkeypatch.setattr(selectors, "DEAL_WALK_MARGIN", 0)
    read = selectors.deal_list_page
    walked = []

    def reading(*args, **kwargs):
        page = read(*args, **kwargs)
        walked.append(page.walked)
        return page

    monkeypatch.setattr("pipeline.views.deals.deal_list_page", reading)
    user = request.getfixturevalue(who)
    client.force_login(user)
    period = Period.named(preset, timezone.localdate())
    listed = _listed(client, f"period={preset}")
    assert listed == _expected(user, period=period, sort="")
    if connection.vendor == "postgresql" and who in ("admin", "manager"):
        assert True in walked and False in walked  # both ways were taken


@pytest.mark.parametrize("who", ["admin", "manager", "rep"])
@pytest.mark.parametrize("sort", ["owner", "-owner"])
@pytest.mark.parametrize("search", ["", "glob"])
def test_every_page_by_owner_lists_the_periods_deals_in_order(
    client, request, monkeypatch, history, who, sort, search
):
    """Sorted by owner, the page reads the owners in name order and each one's deals by id:
    every page of seven lists what the period's list holds, in the order the whole list sorted
    by the owner's name (the database's collation) gives."""
    monkeypatch.setattr("pipeline.views.deals.PAGE_SIZE", 7)
    user = request.getfixturevalue(who)
    client.force_login(user)
    period = Period.named("90d", timezone.localdate())
    held = _expected(user, period=period, sort="close", search=search)
    names = ("owner__full_name", "owner__username", "id")
    if sort.startswith("-"):
        names = tuple(f"-{name}" for name in names)
    expected = list(Deal.objects.filter(pk__in=held).order_by(*names).values_list("pk", flat=True))
    assert _listed(client, f"sort={sort}&period=90d&q={search}") == expected


@pytest.fixture
def two_pipelines(history, pipeline, stages):
    """A second pipeline, named to sort before the first, with its own stages; a third of the
    deals moved into it at random, and a few of those left on a stage of the first pipeline
    (nothing in the database binds a deal's pipeline to its stage's)."""
    from tests.factories import PipelineFactory

    draw = random.Random(20261205)
    other = PipelineFactory(name="Another line")
    their_stages = list(other.stages.all())
    for deal in Deal.objects.order_by("pk"):
        if draw.random() < 0.35:
            kept = [stage for stage in their_stages if stage.kind == deal.status]
            stage = deal.stage if draw.random() < 0.2 else draw.choice(kept)
            Deal.objects.filter(pk=deal.pk).update(pipeline=other, stage=stage)
    return other


@pytest.mark.parametrize("who", ["admin", "manager", "rep"])
@pytest.mark.parametrize("sort", ["stage", "-stage"])
@pytest.mark.parametrize("query", ["", "q=glob", "status=open"])
def test_every_page_by_stage_lists_the_periods_deals_in_order(
    client, request, monkeypatch, two_pipelines, who, sort, query
):
    """Sorted by stage, the page reads each (pipeline, stage) pair in order and its deals by id:
    every page of seven lists what the period's list holds, in the order the whole list sorted
    by the pipeline's name, the stage's order and the id gives, deals whose stage lies in
    another pipeline included."""
    assert Deal.objects.exclude(pipeline=F("stage__pipeline")).exists()
    monkeypatch.setattr("pipeline.views.deals.PAGE_SIZE", 7)
    user = request.getfixturevalue(who)
    client.force_login(user)
    period = Period.named("90d", timezone.localdate())
    search = "glob" if query == "q=glob" else ""
    status = "open" if query == "status=open" else ""
    held = _expected(user, period=period, sort="close", search=search, status=status)
    names = ("pipeline__name", "stage__order", "id")
    if sort.startswith("-"):
        names = tuple(f"-{name}" for name in names)
    expected = list(Deal.objects.filter(pk__in=held).order_by(*names).values_list("pk", flat=True))
    assert expected and (len(expected) > 14 or who == "rep" or query)  # several pages
    assert _listed(client, f"sort={sort}&period=90d&{query}") == expected


def test_the_page_by_stage_reads_in_as_many_queries_whatever_the_size(
    client, manager, rep, pipeline, stages
):
    """The sorted page costs the same queries with 5 deals or 45 (the pairs are read in one
    statement), and on PostgreSQL that statement reads the pairs one at a time."""

    def statements() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{reverse('deal-list')}?sort=stage").status_code == 200
        return [query["sql"] for query in queries]

    client.force_login(manager)
    statements()  # the first request of a session reads what later ones find cached
    counts = []
    for added in (5, 40):
        for index in range(added):
            DealFactory(owner=rep, pipeline=pipeline, name=f"Deal {index}")
        counts.append(len(statements()))
    assert counts == [counts[0], counts[0]] and counts[0] <= 10
    if connection.vendor == "postgresql":
        [listing] = [sql for sql in statements() if "LATERAL" in sql]
        assert '"pipeline_deal"."stage_id" = ("deal_groups"."stage_id")' in listing
