"""Every list answers in a fixed number of queries, however many rows it holds.

Each list is read with 5 rows and again with 100 (one page of ``page_size=200``)
by an admin and by a manager, whose scope is their team; the counts must be
equal and small. Rows vary their related records (owners, accounts,
territories, line items...) so an N+1 on any of them shows.
"""

import datetime
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from pipeline.models import Contact, LostReason, Pipeline, Stage
from pipeline.services import LineItemSpec, activity_log, deal_create, deal_move
from quotas.models import Territory
from quotas.services import quota_set
from salesmgr.services import user_create
from tests.factories import AccountFactory, DealFactory, LostReasonFactory, ProductFactory

API = "/api/v1/"
FEW, MANY = 5, 100
_serial = count(1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(admin, manager, rep, rep2, outsider, pipeline):
    """The standard cast, plus records of the other team that a manager's list must filter out."""
    account = AccountFactory(owner=outsider)
    deal = DealFactory(owner=outsider, account=account, pipeline=pipeline)
    activity_log(by=outsider, kind="note", subject="elsewhere", deal=deal)
    Contact.objects.create(account=account, first_name="Else")
    quota_set(
        owner=outsider,
        period_start=datetime.date(2030, 1, 1),
        period_end=datetime.date(2030, 1, 31),
        target=Decimal(1),
    )
    return {"admin": admin, "manager": manager, "reps": [rep, rep2], "pipeline": pipeline}


def _owner(cast, i):
    return cast["reps"][i % 2]


def _account(cast, i):
    territory = Territory.objects.create(name=f"T{next(_serial)}") if i % 3 == 0 else None
    return AccountFactory(owner=_owner(cast, i), territory=territory)


def seed_users(cast, start, n):
    for i in range(start, start + n):
        user_create(
            username=f"member{i}",
            password=None,
            manager=cast["manager"] if i % 2 else cast["reps"][0],
        )


def seed_pipelines(cast, start, n):
    # Stages in bulk: stage_create's checks cost seconds over hundreds of stages.
    pipelines = Pipeline.objects.bulk_create(
        Pipeline(name=f"Flow {i}") for i in range(start, start + n)
    )
    Stage.objects.bulk_create(
        Stage(pipeline=pipeline, name=kind, order=order, probability=50, kind=kind)
        for pipeline in pipelines
        for order, kind in enumerate(["open", "won", "lost"], start=1)
    )


def seed_stages(cast, start, n):
    pipelines = [Pipeline.objects.get_or_create(name=f"Long {k}")[0] for k in range(3)]
    Stage.objects.bulk_create(
        Stage(pipeline=pipelines[i % 3], name=f"Step {i}", order=i + 1, probability=i % 100)
        for i in range(start, start + n)
    )


def seed_accounts(cast, start, n):
    for i in range(start, start + n):
        _account(cast, i)


def seed_contacts(cast, start, n):
    for i in range(start, start + n):
        Contact.objects.create(account=_account(cast, i), first_name=f"Person {i}")


def seed_products(cast, start, n):
    for i in range(start, start + n):
        ProductFactory(name=f"Thing {i}", sku=f"THING-{i}")


def seed_lost_reasons(cast, start, n):
    for i in range(start, start + n):
        LostReason.objects.create(name=f"Reason {i}")


def _deal(cast, i):
    owner = _owner(cast, i)
    items = (
        [LineItemSpec(product=ProductFactory(), quantity=Decimal(q)) for q in (1, 2, 3)]
        if i % 2
        else None
    )
    deal = deal_create(
        by=owner,
        name=f"Deal {i}",
        account=_account(cast, i),
        pipeline=cast["pipeline"],
        expected_close_date=datetime.date(2031, 1, 1) + datetime.timedelta(days=i),
        line_items=items,
    )
    if i % 5 == 0:
        lost = cast["pipeline"].stages.get(kind="lost")
        deal = deal_move(
            deal=deal,
            to_stage=lost,
            by=owner,
            expected_version=deal.version,
            lost_reason=LostReasonFactory(name=f"Reason {i}"),
        )
    return deal


def seed_deals(cast, start, n):
    for i in range(start, start + n):
        _deal(cast, i)


def seed_activities(cast, start, n):
    for i in range(start, start + n):
        owner = _owner(cast, i)
        if i % 2:
            activity_log(by=owner, kind="call", subject=f"Call {i}", deal=_deal(cast, i))
        else:
            activity_log(
                by=owner, kind="client_visit", subject=f"Visit {i}", account=_account(cast, i)
            )


def seed_territories(cast, start, n):
    parent = None
    for i in range(start, start + n):
        territory = Territory.objects.create(name=f"Area {i}", parent=parent if i % 2 else None)
        territory.reps.add(_owner(cast, i))
        parent = territory


def seed_quotas(cast, start, n):
    for i in range(start, start + n):
        first = datetime.date(2031 + i // 12, i % 12 + 1, 1)
        quota_set(
            owner=_owner(cast, i),
            period_start=first,
            period_end=first + datetime.timedelta(days=27),
            target=Decimal(i),
        )


LISTS = {  # each list endpoint and how to add rows that both viewers see
    "users": seed_users,
    "pipelines": seed_pipelines,
    "stages": seed_stages,
    "accounts": seed_accounts,
    "contacts": seed_contacts,
    "products": seed_products,
    "lost-reasons": seed_lost_reasons,
    "deals": seed_deals,
    "activities": seed_activities,
    "territories": seed_territories,
    "quotas": seed_quotas,
}


def on_this_database(postgres: int, sqlite: int) -> int:
    """The count pinned for the database the tests run on. SQLite, the embedded default, reads a
    list's page and its count in separate statements (and a team's activities part by part,
    each with its count), and without a broker runs a write's after-commit tasks (the milestones'
    read, the webhook deliveries) in the same process. Either way the count does not grow with
    the rows."""
    return postgres if connection.vendor == "postgresql" else sqlite


# The page's count and its rows, plus one query per prefetched relation.
MAX_QUERIES = {
    "users": 2,
    "pipelines": 3,  # + stages
    "stages": 2,
    "accounts": 2,
    "contacts": 3,  # + the reader's owners and territories (not for an admin)
    "products": 2,
    "lost-reasons": 2,
    "deals": 3,  # the team, the page with its count, the rows (no line items on the list)
    "activities": 3,  # the team, the page with its count, the rows
    "territories": 5,  # + reps, rules, the rules' named accounts
    "quotas": 2,
}
# SQLite's separate counts: a manager's deals; a manager's activities, three parts and their counts.
SQLITE_MORE = {("deals", "manager"): 1, ("activities", "manager"): 5}


def _read(client, url):
    """The number of queries a full page takes, and the rows it lists."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"page_size": 200})
    assert response.status_code == 200, response.content
    return len(queries), len(response.json()["results"])


@pytest.mark.parametrize("viewer", ["admin", "manager"])
@pytest.mark.parametrize("endpoint", list(LISTS))
def test_list_queries_do_not_grow_with_rows(cast, django_assert_num_queries, endpoint, viewer):
    client = APIClient()
    client.force_authenticate(cast[viewer])
    url = f"{API}{endpoint}/"
    LISTS[endpoint](cast, 0, FEW)
    few_queries, few_rows = _read(client, url)
    LISTS[endpoint](cast, FEW, MANY - FEW)
    with django_assert_num_queries(few_queries):
        many_rows = len(client.get(url, {"page_size": 200}).json()["results"])
    # Every new row lies in the viewer's scope and on the one page.
    assert many_rows - few_rows == MANY - FEW
    assert few_queries <= MAX_QUERIES[endpoint] + on_this_database(
        0, SQLITE_MORE.get((endpoint, viewer), 0)
    )


# The deal list's queries: the page (ids from each owner's index, merged, and the count: one
# statement) and its rows; a manager's list reads their team once; line items only on request.
DEAL_LIST_QUERIES = {
    ("admin", "plain"): 2,
    ("manager", "plain"): 3,
    ("rep", "plain"): 2,
    ("admin", "expand"): 3,
    ("manager", "expand"): 4,
    ("rep", "expand"): 3,
}
DEAL_LIST_VARIANTS = {
    "plain": {},
    "cursor": {"cursor": ""},
    "sorted": {"ordering": "-closed_at", "amount_min": "0"},
    "searched": {"search": "Deal", "ordering": "name"},
    "expand": {"expand": "line_items"},
}


@pytest.mark.parametrize("viewer", ["admin", "manager", "rep"])
@pytest.mark.parametrize("variant", list(DEAL_LIST_VARIANTS))
def test_the_deal_list_takes_a_fixed_number_of_queries(
    cast, django_assert_num_queries, viewer, variant
):
    """Pinned at 5 and 100 deals: every sort, a cursor, filters and the expansion alike."""
    user = cast["reps"][1] if viewer == "rep" else cast[viewer]  # the one with line items
    client = APIClient()
    client.force_authenticate(user)
    params = {**DEAL_LIST_VARIANTS[variant], "page_size": 200}
    expected = DEAL_LIST_QUERIES[(viewer, "expand" if variant == "expand" else "plain")]
    expected += on_this_database(0, 1)  # the count on its own
    if variant == "searched" and connection.vendor == "postgresql":
        expected += 1  # the planner's estimate of the term's rows (salesmgr.api.search)
    seed_deals(cast, 0, FEW)
    with django_assert_num_queries(expected):
        few = client.get(f"{API}deals/", params).json()["results"]
    seed_deals(cast, FEW, MANY - FEW)
    with django_assert_num_queries(expected):
        many = client.get(f"{API}deals/", params).json()["results"]
    assert len(many) > len(few) > 0
    if variant == "expand":
        assert any(row["line_items"] for row in many)


# The activity list's queries: the page (each part's first rows, merged, and the count: one
# statement) and its rows with their authors, deals and accounts; a manager's reads their team.
ACTIVITY_LIST_QUERIES = {"admin": 2, "manager": 3, "rep": 2}
SQLITE_ACTIVITY_LIST_QUERIES = {"admin": 3, "manager": 8, "rep": 7}
ACTIVITY_LIST_VARIANTS = {
    "plain": {},
    "cursor": {"cursor": ""},
    "oldest first": {"ordering": "occurred_at"},
    "by id": {"ordering": "-id"},
    "filtered": {"kind": "call", "occurred_after": "2000-01-01T00:00:00Z"},
    "searched": {"search": "Call"},
}


@pytest.mark.parametrize("viewer", ["admin", "manager", "rep"])
@pytest.mark.parametrize("variant", list(ACTIVITY_LIST_VARIANTS))
def test_the_activity_list_takes_a_fixed_number_of_queries(
    cast, django_assert_num_queries, viewer, variant
):
    """Pinned at 5 and 100 activities: every sort, a cursor, filters and search alike."""
    user = cast["reps"][1] if viewer == "rep" else cast[viewer]
    client = APIClient()
    client.force_authenticate(user)
    params = {**ACTIVITY_LIST_VARIANTS[variant], "page_size": 200}
    # SQLite reads the page and its count apart; a rep's or a manager's parts (their own, their
    # deals', their accounts') one by one, each with its count.
    expected = on_this_database(ACTIVITY_LIST_QUERIES[viewer], SQLITE_ACTIVITY_LIST_QUERIES[viewer])
    seed_activities(cast, 0, FEW)
    with django_assert_num_queries(expected):
        few = client.get(f"{API}activities/", params).json()["results"]
    seed_activities(cast, FEW, MANY - FEW)
    with django_assert_num_queries(expected):
        many = client.get(f"{API}activities/", params).json()["results"]
    assert len(many) > len(few) > 0
    assert all(row["author_name"] for row in many)


@pytest.mark.parametrize("viewer", ["admin", "manager"])
@pytest.mark.parametrize("history", ["transitions", "history"])
def test_deal_history_queries_do_not_grow_with_moves(
    cast, django_assert_num_queries, history, viewer
):
    client = APIClient()
    client.force_authenticate(cast[viewer])
    deal = _deal(cast, 1)
    stages = list(cast["pipeline"].stages.filter(kind="open").order_by("order")[:2])
    url = f"{API}deals/{deal.pk}/{history}/"

    def move(times):
        nonlocal deal
        for _ in range(times):
            to = stages[0] if deal.stage_id == stages[1].pk else stages[1]
            deal = deal_move(deal=deal, to_stage=to, by=deal.owner, expected_version=deal.version)

    move(FEW)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    move(MANY - FEW)
    with django_assert_num_queries(len(few)):
        assert len(client.get(url).json()) > MANY
    assert len(few) <= 2  # the deal, then its transitions or versions with who made them


@pytest.mark.parametrize("viewer", ["admin", "manager"])
def test_reading_a_deal_takes_at_most_six_queries(cast, django_assert_max_num_queries, viewer):
    deal = _deal(cast, 5)  # lost for a reason, with line items, on an account in a territory
    client = APIClient()
    client.force_authenticate(cast[viewer])
    with django_assert_max_num_queries(6):
        response = client.get(f"{API}deals/{deal.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["lost_reason_name"] == "Reason 5"
    assert len(body["line_items"]) == 3


# A move through the API, its after-commit work included (the snapshots' stale marks, the
# milestone ring): the deal read, the stage, the lock, the deal's update, its history row,
# its transition, the webhook subscriptions, then the scopes it touches (its versions with
# their accounts' territories and the ones above, the owner's managers, the other snapshot
# scopes, in one query) marked stale in one upsert. The test's transaction adds a savepoint
# and its release around the write.
# (PostgreSQL, SQLite): with no broker, SQLite's run adds the milestones task's read of the
# quotas and, with a subscription, the deliveries' attempts, all in this process.
MOVE_QUERIES = {
    "plain": (12, 13),
    # + the webhook payload's read (the deal, its line items) and its deliveries in one insert.
    "rich": (15, 29),
}


@pytest.mark.parametrize("setup", list(MOVE_QUERIES))
def test_a_move_takes_a_fixed_number_of_queries(
    cast, admin, django_assert_num_queries, django_capture_on_commit_callbacks, setup
):
    from pipeline.models import StageTransition
    from pipeline.webhooks.models import WebhookDelivery
    from pipeline.webhooks.services import webhook_subscription_create
    from reports.models import DirtyScope

    rep = cast["reps"][0]
    account = AccountFactory(owner=rep)
    items = None
    to = cast["pipeline"].stages.filter(kind="open").order_by("order")[1]
    if setup == "rich":
        account = _account(cast, 0)  # in a territory
        items = [LineItemSpec(product=ProductFactory(), quantity=Decimal(q)) for q in (1, 2, 3)]
        to = cast["pipeline"].stages.get(kind="won")
        webhook_subscription_create(
            by=admin,
            name="Receiver",
            url="https://hooks.example.com/in",
            events=["deal.moved", "deal.won"],
        )
    deal = deal_create(
        by=rep,
        name="Moving",
        account=account,
        pipeline=cast["pipeline"],
        expected_close_date=datetime.date(2031, 1, 1),
        line_items=items,
    )
    DirtyScope.objects.all().delete()
    histories = deal.history.count()
    client = APIClient()
    client.force_authenticate(rep)
    with (
        django_assert_num_queries(on_this_database(*MOVE_QUERIES[setup])),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            f"{API}deals/{deal.pk}/move/", {"stage": to.pk, "version": deal.version}, format="json"
        )
    assert response.status_code == 200, response.content
    # Every side effect happened, and the answer is the deal as read afresh.
    assert deal.history.count() == histories + 1
    assert StageTransition.objects.filter(deal=deal, to_stage=to).exists()
    assert {"org", f"owner={rep.pk}"} <= set(DirtyScope.objects.values_list("scope_key", flat=True))
    expected_deliveries = 2 if setup == "rich" else 0
    assert WebhookDelivery.objects.count() == expected_deliveries
    assert response.json() == client.get(f"{API}deals/{deal.pk}/").json()
    assert response["ETag"] == f'"{deal.pk}.{deal.version + 1}"'


# A create or an edit through the API answers the deal it wrote without reading it again, and
# marks its scopes as a move does. Create: the account, pipeline and stage named, the
# pipeline's stages checked, then (in a savepoint) the deal, its history row, its creating
# transition, the webhook subscriptions; the scopes found and marked.
CREATE_QUERIES = (12, 13)
# Edit: the deal read with its line items, then (in a savepoint) the lock, whether it has line
# items (an amount is sent), the update, its history row, the webhook subscriptions; the scopes
# found and marked.
# (PostgreSQL, SQLite), as for a move.
EDIT_QUERIES = {
    "amount": (11, 12),
    # A name on a deal with line items, on an account in a territory, with a subscription to
    # deal.updated: no line item check, + the webhook payload's read (the deal, its line
    # items) and its delivery.
    "rich": (13, 23),
    # Another account of the owner's: + that account read while validating, no line item check.
    "account": (11, 12),
    # A manager gives the deal to another rep of the team: + the rep read while validating,
    # whether the manager may act for the old and the new owner; no line item check.
    "reassign": (13, 14),
}


@pytest.mark.parametrize("others", [FEW, MANY])
def test_a_create_takes_a_fixed_number_of_queries(
    cast, django_assert_num_queries, django_capture_on_commit_callbacks, others
):
    from reports.models import DirtyScope

    rep = cast["reps"][0]
    account = AccountFactory(owner=rep)
    DealFactory.create_batch(others, owner=rep, account=account, pipeline=cast["pipeline"])
    stage = cast["pipeline"].stages.filter(kind="open").order_by("order")[0]
    client = APIClient()
    client.force_authenticate(rep)
    with (
        django_assert_num_queries(on_this_database(*CREATE_QUERIES)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            f"{API}deals/",
            {
                "name": "  Fresh  ",
                "account": account.pk,
                "pipeline": cast["pipeline"].pk,
                "stage": stage.pk,
                "amount": "12",
                "currency": "usd",
                "expected_close_date": "2031-02-03",
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == client.get(f"{API}deals/{body['id']}/").json()
    assert (body["name"], body["amount"], body["currency"]) == ("Fresh", "12.00", "USD")
    assert response["ETag"] == f'"{body["id"]}.1"'
    assert {"org", f"owner={rep.pk}"} <= set(DirtyScope.objects.values_list("scope_key", flat=True))


@pytest.mark.parametrize("others", [FEW, MANY])
@pytest.mark.parametrize("setup", list(EDIT_QUERIES))
def test_an_edit_takes_a_fixed_number_of_queries(
    cast, admin, django_assert_num_queries, django_capture_on_commit_callbacks, setup, others
):
    from pipeline.webhooks.models import WebhookDelivery
    from pipeline.webhooks.services import webhook_subscription_create
    from reports.models import DirtyScope

    rep, rep2 = cast["reps"]
    account = AccountFactory(owner=rep)
    DealFactory.create_batch(others, owner=rep, account=account, pipeline=cast["pipeline"])
    items = None
    editor, change = rep, {"amount": "4321.5"}
    if setup == "rich":
        account = _account(cast, 0)  # in a territory
        items = [LineItemSpec(product=ProductFactory(), quantity=Decimal(q)) for q in (1, 2, 3)]
        change = {"name": "Renamed"}
        webhook_subscription_create(
            by=admin, name="Receiver", url="https://hooks.example.com/in", events=["deal.updated"]
        )
    deal = deal_create(
        by=rep,
        name="Edited",
        account=account,
        pipeline=cast["pipeline"],
        expected_close_date=datetime.date(2031, 1, 1),
        line_items=items,
    )
    if setup == "account":
        change = {"account": AccountFactory(owner=rep, name="Another").pk}
    if setup == "reassign":
        editor, change = cast["manager"], {"owner": rep2.pk}
    DirtyScope.objects.all().delete()
    histories = deal.history.count()
    client = APIClient()
    client.force_authenticate(editor)
    with (
        django_assert_num_queries(on_this_database(*EDIT_QUERIES[setup])),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.patch(
            f"{API}deals/{deal.pk}/", {**change, "version": deal.version}, format="json"
        )
    assert response.status_code == 200, response.content
    assert deal.history.count() == histories + 1
    assert WebhookDelivery.objects.count() == (1 if setup == "rich" else 0)
    assert DirtyScope.objects.filter(scope_key="org").exists()
    body = response.json()
    assert body == client.get(f"{API}deals/{deal.pk}/").json()
    assert response["ETag"] == f'"{deal.pk}.{deal.version + 1}"'
    if setup == "account":
        assert body["account_name"] == "Another"
    if setup == "reassign":
        assert body["owner"] == rep2.pk
    if setup == "rich":
        assert len(body["line_items"]) == 3


def test_an_edit_that_changes_nothing_answers_the_deal_as_read(
    cast, django_assert_num_queries, django_capture_on_commit_callbacks
):
    deal = _deal(cast, 1)  # with line items, on an account in a territory
    client = APIClient()
    client.force_authenticate(deal.owner)
    # The deal and its line items read, the lock in a savepoint: nothing written, nothing marked.
    with django_assert_num_queries(5), django_capture_on_commit_callbacks(execute=True):
        response = client.patch(
            f"{API}deals/{deal.pk}/", {"name": deal.name, "version": deal.version}, format="json"
        )
    assert response.status_code == 200, response.content
    assert response.json() == client.get(f"{API}deals/{deal.pk}/").json()
    assert response["ETag"] == f'"{deal.pk}.{deal.version}"'
