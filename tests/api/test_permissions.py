"""Who may do what, endpoint by endpoint: the permission matrix of API.md "Who sees what".

The cast is the standard one (an admin; a manager with reps ``rep`` and
``rep2``; ``other_manager`` with the ``outsider`` rep). Every record acted on
belongs to ``rep`` (or is reference data), so ``rep2`` is the teammate who is
not the owner and ``outsider`` / ``other_manager`` are the other team.

Creates name the target's owner or parent: a deal or contact on ``rep``'s
account, an activity on ``rep``'s deal, an account or quota for ``rep``. An
id in input that the actor may not see is a 400, as if it did not exist.

Every cell also checks its effect: a refused write leaves what an admin sees
unchanged, and an accepted update answers with the values sent.

The world is built once per module inside a transaction that is rolled back
at the end; each test runs in a savepoint of it, so writes never leak from
one cell into the next.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings
from rest_framework.test import APIClient

from pipeline.models import Contact, ExchangeRate, LostReason
from pipeline.services import account_delete, activity_log, deal_delete
from quotas.services import manager_target_set, quota_set, territory_create
from salesmgr.services import user_set_manager
from tests.factories import (
    PASSWORD,
    AccountFactory,
    DealFactory,
    PipelineFactory,
    ProductFactory,
    UserFactory,
)

API = "/api/v1/"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

ANON = "anonymous"
ACTORS = (ANON, "admin", "manager", "rep", "rep2", "outsider", "other_manager")
PEOPLE = ACTORS[1:]

# Whose records each person reads (deals, accounts, contacts, activities, quotas).
SCOPE = {
    "admin": set(PEOPLE),
    "manager": {"manager", "rep", "rep2"},
    "rep": {"rep"},
    "rep2": {"rep2"},
    "outsider": {"outsider"},
    "other_manager": {"other_manager", "outsider"},
}
# Whom each person sees among the users: themselves, their team and their managers.
PEOPLE_SEEN = {
    "admin": set(PEOPLE),
    "manager": {"manager", "rep", "rep2"},
    "rep": {"rep", "manager"},
    "rep2": {"rep2", "manager"},
    "outsider": {"outsider", "other_manager"},
    "other_manager": {"other_manager", "outsider"},
}

# fmt: off
# The matrix. Columns: anonymous, admin, manager, rep (owner), rep2 (same team),
# outsider (other team's rep), other_manager.
MATRIX = [
    # endpoint       action               anon admin mgr  rep  rep2 outs omgr
    ("users",        "list",              401, 200, 200, 200, 200, 200, 200),
    ("users",        "retrieve",          401, 200, 200, 200, 404, 404, 404),
    ("users",        "create",            401, 201, 403, 403, 403, 403, 403),
    ("users",        "update",            401, 200, 403, 403, 403, 403, 403),
    ("users",        "delete",            401, 204, 403, 403, 403, 403, 403),
    ("users",        "me",                401, 200, 200, 200, 200, 200, 200),

    ("pipelines",    "list",              401, 200, 200, 200, 200, 200, 200),
    ("pipelines",    "retrieve",          401, 200, 200, 200, 200, 200, 200),
    ("pipelines",    "create",            401, 201, 403, 403, 403, 403, 403),
    ("pipelines",    "update",            401, 200, 403, 403, 403, 403, 403),
    ("pipelines",    "delete",            401, 204, 403, 403, 403, 403, 403),

    ("stages",       "list",              401, 200, 200, 200, 200, 200, 200),
    ("stages",       "retrieve",          401, 200, 200, 200, 200, 200, 200),
    ("stages",       "create",            401, 201, 403, 403, 403, 403, 403),
    ("stages",       "update",            401, 200, 403, 403, 403, 403, 403),
    ("stages",       "delete",            401, 204, 403, 403, 403, 403, 403),

    ("products",     "list",              401, 200, 200, 200, 200, 200, 200),
    ("products",     "retrieve",          401, 200, 200, 200, 200, 200, 200),
    ("products",     "create",            401, 201, 403, 403, 403, 403, 403),
    ("products",     "update",            401, 200, 403, 403, 403, 403, 403),
    ("products",     "delete",            401, 204, 403, 403, 403, 403, 403),

    ("exchange-rates", "list",            401, 200, 200, 200, 200, 200, 200),
    ("exchange-rates", "retrieve",        401, 200, 200, 200, 200, 200, 200),
    ("exchange-rates", "create",          401, 201, 403, 403, 403, 403, 403),
    ("exchange-rates", "update",          401, 200, 403, 403, 403, 403, 403),
    ("exchange-rates", "delete",          401, 204, 403, 403, 403, 403, 403),
    ("lost-reasons", "list",              401, 200, 200, 200, 200, 200, 200),
    ("lost-reasons", "retrieve",          401, 200, 200, 200, 200, 200, 200),
    ("lost-reasons", "create",            401, 201, 403, 403, 403, 403, 403),
    ("lost-reasons", "update",            401, 200, 403, 403, 403, 403, 403),
    ("lost-reasons", "delete",            401, 204, 403, 403, 403, 403, 403),

    ("territories",  "list",              401, 200, 200, 200, 200, 200, 200),
    ("territories",  "retrieve",          401, 200, 200, 200, 404, 404, 404),
    ("territories",  "create",            401, 201, 403, 403, 403, 403, 403),
    ("territories",  "update",            401, 200, 403, 403, 403, 403, 403),
    ("territories",  "delete",            401, 204, 403, 403, 403, 403, 403),

    ("accounts",     "list",              401, 200, 200, 200, 200, 200, 200),
    ("accounts",     "retrieve",          401, 200, 200, 200, 404, 404, 404),
    ("accounts",     "create",            401, 201, 201, 201, 400, 400, 400),
    ("accounts",     "update",            401, 200, 200, 200, 404, 404, 404),
    ("accounts",     "delete",            401, 204, 204, 204, 404, 404, 404),
    ("accounts",     "restore",           401, 200, 403, 403, 403, 403, 403),

    ("contacts",     "list",              401, 200, 200, 200, 200, 200, 200),
    ("contacts",     "retrieve",          401, 200, 200, 200, 404, 404, 404),
    ("contacts",     "create",            401, 201, 201, 201, 400, 400, 400),
    ("contacts",     "update",            401, 200, 200, 200, 404, 404, 404),
    ("contacts",     "delete",            401, 204, 204, 204, 404, 404, 404),

    ("deals",        "list",              401, 200, 200, 200, 200, 200, 200),
    ("deals",        "retrieve",          401, 200, 200, 200, 404, 404, 404),
    ("deals",        "create",            401, 201, 201, 201, 400, 400, 400),
    ("deals",        "update",            401, 200, 200, 200, 404, 404, 404),
    ("deals",        "delete",            401, 204, 204, 204, 404, 404, 404),
    ("deals",        "move",              401, 200, 200, 200, 404, 404, 404),
    ("deals",        "transitions",       401, 200, 200, 200, 404, 404, 404),
    ("deals",        "history",           401, 200, 200, 200, 404, 404, 404),
    ("deals",        "restore",           401, 200, 403, 403, 403, 403, 403),
    # A rep may not change the owner: 403 when they can see the new owner, 400 when not.
    ("deals",        "reassign-manager",  401, 200, 200, 403, 404, 404, 404),
    ("deals",        "reassign-rep2",     401, 200, 200, 400, 404, 404, 404),
    ("deals",        "reassign-outsider", 401, 200, 400, 400, 404, 404, 404),

    ("activities",   "list",              401, 200, 200, 200, 200, 200, 200),
    ("activities",   "retrieve",          401, 200, 200, 200, 404, 404, 404),
    ("activities",   "create",            401, 201, 201, 201, 400, 400, 400),
    ("activities",   "update",            401, 405, 405, 405, 405, 405, 405),
    ("activities",   "delete",            401, 204, 403, 204, 404, 404, 404),

    ("quotas",       "list",              401, 200, 200, 200, 200, 200, 200),
    ("quotas",       "retrieve",          401, 200, 200, 200, 404, 404, 404),
    ("quotas",       "create",            401, 201, 403, 403, 403, 403, 403),
    ("quotas",       "update",            401, 200, 403, 403, 403, 403, 403),
    ("quotas",       "delete",            401, 204, 403, 403, 403, 403, 403),

    # A manager's choice of team target: the manager's own, read by them and admins.
    ("manager-targets", "list",           401, 200, 200, 200, 200, 200, 200),
    ("manager-targets", "retrieve",       401, 200, 200, 404, 404, 404, 404),
    ("manager-targets", "create",         401, 201, 403, 403, 403, 403, 403),
    ("manager-targets", "update",         401, 200, 403, 403, 403, 403, 403),
    ("manager-targets", "delete",         401, 204, 403, 403, 403, 403, 403),

    # Anonymous sends a wrong password; everyone else signs in as themselves.
    ("auth/token",   "create",            400, 200, 200, 200, 200, 200, 200),
    ("auth/token",   "delete",            401, 204, 204, 204, 204, 204, 204),
    ("auth/token",   "list",              401, 405, 405, 405, 405, 405, 405),
]
# fmt: on

CASES = [
    pytest.param(endpoint, action, actor, expected, id=f"{endpoint}-{action}-{actor}-{expected}")
    for endpoint, action, *codes in MATRIX
    for actor, expected in zip(ACTORS, codes, strict=True)
]


@dataclass(frozen=True)
class Resource:
    """How to run each action on one endpoint; every callable takes (world, acting user or None)."""

    url: str
    target: str = ""  # key in world.ids of the record a detail action works on
    create: Callable | None = None
    update: Callable | None = None
    extra: dict[str, Callable] = field(default_factory=dict)

    def detail(self, w) -> str:
        return f"{self.url}{w.ids[self.target]}/"

    def request(self, w, me, action) -> tuple[str, str, dict | None]:
        if action in self.extra:
            return self.extra[action](w, me)
        if action == "list":
            return "get", self.url, {"page_size": 200}
        if action == "retrieve":
            return "get", self.detail(w), None
        if action == "create":
            return "post", self.url, self.create(w, me)
        if action == "update":
            return "patch", self.detail(w), self.update(w, me)
        if action == "delete":
            return "delete", self.detail(w), None
        raise AssertionError(f"no action {action!r} on {self.url}")


def _deal_action(name, body=None):
    return lambda w, me: (
        "post" if body else "get",
        f"{API}deals/{w.ids['deal']}/{name}/",
        body and body(w),
    )


def _reassign(to):
    return lambda w, me: (
        "patch",
        f"{API}deals/{w.ids['deal']}/",
        {"owner": w.users[to].pk, "version": 1},
    )


def _token_create(w, me):
    if me is None:
        return "post", f"{API}auth/token/", {"username": "rep", "password": "not-the-password"}
    return "post", f"{API}auth/token/", {"username": me.username, "password": PASSWORD}


RESOURCES = {
    "users": Resource(
        url=f"{API}users/",
        target="rep_user",
        create=lambda w, me: {
            "username": "newbie",
            "password": "correct-horse-battery",
            "role": "rep",
            "manager": w.users["manager"].pk,
        },
        update=lambda w, me: {"full_name": "Renamed Rep"},
        extra={"me": lambda w, me: ("get", f"{API}users/me/", None)},
    ),
    "pipelines": Resource(
        url=f"{API}pipelines/",
        target="spare_pipeline",
        create=lambda w, me: {"name": "Fresh pipeline"},
        update=lambda w, me: {"description": "Renewals only"},
    ),
    "stages": Resource(
        url=f"{API}stages/",
        target="spare_stage",
        create=lambda w, me: {
            "pipeline": w.ids["spare_pipeline"],
            "name": "Demo",
            "order": 9,
            "probability": 50,
        },
        update=lambda w, me: {"probability": 35},
    ),
    "products": Resource(
        url=f"{API}products/",
        target="product",
        create=lambda w, me: {"name": "Gadget", "sku": "GAD-1", "unit_price": "10.00"},
        update=lambda w, me: {"unit_price": "12.50"},
    ),
    "exchange-rates": Resource(
        url=f"{API}exchange-rates/",
        target="exchange_rate",
        create=lambda w, me: {"currency": "GBP", "valid_from": "2026-02-01", "rate": "1.2700"},
        update=lambda w, me: {"rate": "1.0900000000"},
    ),
    "lost-reasons": Resource(
        url=f"{API}lost-reasons/",
        target="lost_reason",
        create=lambda w, me: {"name": "Budget"},
        update=lambda w, me: {"is_active": False},
    ),
    "territories": Resource(
        url=f"{API}territories/",
        target="territory",
        create=lambda w, me: {"name": "South"},
        update=lambda w, me: {"region": "EMEA"},
    ),
    "accounts": Resource(
        url=f"{API}accounts/",
        target="spare_account",
        create=lambda w, me: {"name": "Fresh account", "owner": w.users["rep"].pk},
        update=lambda w, me: {"industry": "Retail"},
        extra={
            "restore": lambda w, me: (
                "post",
                f"{API}accounts/{w.ids['deleted_account']}/restore/",
                None,
            )
        },
    ),
    "contacts": Resource(
        url=f"{API}contacts/",
        target="contact",
        create=lambda w, me: {"account": w.ids["account"], "first_name": "Nia"},
        update=lambda w, me: {"title": "CFO"},
    ),
    "deals": Resource(
        url=f"{API}deals/",
        target="deal",
        create=lambda w, me: {
            "name": "Fresh deal",
            "account": w.ids["account"],
            "pipeline": w.ids["pipeline"],
            "expected_close_date": "2031-06-30",
        },
        update=lambda w, me: {"name": "Renamed deal", "version": 1},
        extra={
            "move": _deal_action("move", lambda w: {"stage": w.ids["discovery"], "version": 1}),
            "transitions": _deal_action("transitions"),
            "history": _deal_action("history"),
            "restore": lambda w, me: ("post", f"{API}deals/{w.ids['deleted_deal']}/restore/", None),
            "reassign-manager": _reassign("manager"),
            "reassign-rep2": _reassign("rep2"),
            "reassign-outsider": _reassign("outsider"),
        },
    ),
    "activities": Resource(
        url=f"{API}activities/",
        target="activity",
        create=lambda w, me: {
            "deal": w.ids["deal"],
            "kind": "call",
            "subject": "Called about pricing",
        },
        update=lambda w, me: {"subject": "Edited"},
    ),
    "quotas": Resource(
        url=f"{API}quotas/",
        target="quota",
        create=lambda w, me: {
            "owner": w.users["rep"].pk,
            "period_start": "2031-01-01",
            "period_end": "2031-01-31",
            "target": "5000.00",
        },
        update=lambda w, me: {"target": "2500.00"},
    ),
    "manager-targets": Resource(
        url=f"{API}manager-targets/",
        target="manager_target",
        create=lambda w, me: {"manager": w.users["other_manager"].pk, "basis": "rollup"},
        update=lambda w, me: {"basis": "rollup"},
    ),
    "auth/token": Resource(
        url=f"{API}auth/token/",
        extra={
            "create": _token_create,
            "delete": lambda w, me: ("delete", f"{API}auth/token/", None),
            "list": lambda w, me: ("get", f"{API}auth/token/", None),
        },
    ),
}

# The resources whose records belong to someone: list contents follow SCOPE.
OWNED = ("accounts", "contacts", "deals", "activities", "quotas")


def _build_world() -> SimpleNamespace:
    users = {
        "admin": UserFactory(username="admin", role="admin", full_name="Ada Admin"),
        "manager": UserFactory(username="manager", role="manager", full_name="Morgan Manager"),
        "other_manager": UserFactory(
            username="othermanager", role="manager", full_name="Oscar Other"
        ),
    }
    users["rep"] = UserFactory(username="rep", manager=users["manager"], full_name="Riley Rep")
    users["rep2"] = UserFactory(username="rep2", manager=users["manager"], full_name="Robin Rep")
    users["outsider"] = UserFactory(
        username="outsider", manager=users["other_manager"], full_name="Olive Outsider"
    )

    pipeline = PipelineFactory(name="New business")
    spare = PipelineFactory(name="Spare")
    owned = {kind: {name: set() for name in PEOPLE} for kind in OWNED}
    ids = {}
    for number, (name, user) in enumerate(users.items(), start=1):
        account = AccountFactory(owner=user, name=f"{name} account")
        contact = Contact.objects.create(account=account, first_name=name)
        deal = DealFactory(owner=user, account=account, pipeline=pipeline, name=f"{name} deal")
        activity = activity_log(by=user, kind="note", subject=f"{name} note", deal=deal)
        start = datetime.date(2030, number, 1)
        quota = quota_set(
            owner=user,
            period_start=start,
            period_end=start + datetime.timedelta(days=27),
            target=Decimal("1000"),
        )
        owned["accounts"][name].add(account.pk)
        owned["contacts"][name].add(contact.pk)
        owned["deals"][name].add(deal.pk)
        owned["activities"][name].add(activity.pk)
        owned["quotas"][name].add(quota.pk)
        if name == "rep":
            ids.update(
                account=account.pk,
                contact=contact.pk,
                deal=deal.pk,
                activity=activity.pk,
                quota=quota.pk,
            )

    rep = users["rep"]
    spare_account = AccountFactory(owner=rep, name="rep spare account")
    owned["accounts"]["rep"].add(spare_account.pk)
    deleted_account = account_delete(
        account=AccountFactory(owner=rep, name="rep gone account"), by=rep
    )
    deleted_deal = deal_delete(
        deal=DealFactory(owner=rep, account=spare_account, pipeline=pipeline, name="rep gone deal"),
        by=rep,
    )
    ids.update(
        rep_user=rep.pk,
        pipeline=pipeline.pk,
        discovery=pipeline.stages.get(name="Discovery").pk,
        spare_pipeline=spare.pk,
        spare_stage=spare.stages.get(name="Discovery").pk,
        product=ProductFactory(name="Widget").pk,
        lost_reason=LostReason.objects.create(name="Timing").pk,
        exchange_rate=ExchangeRate.objects.create(
            currency="EUR", valid_from=datetime.date(2026, 1, 1), rate=Decimal("1.08")
        ).pk,
        territory=territory_create(
            name="North", owner=users["manager"], reps=[rep], by=users["admin"]
        ).pk,
        manager_target=manager_target_set(
            manager=users["manager"], basis="own", by=users["admin"]
        ).pk,
        spare_account=spare_account.pk,
        deleted_account=deleted_account.pk,
        deleted_deal=deleted_deal.pk,
    )
    return SimpleNamespace(users=users, ids=ids, owned=owned)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=FAST_HASHERS),
        transaction.atomic(),
    ):
        yield _build_world()
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the token endpoint counts failed sign-ins per client in the cache
    yield
    cache.clear()


def _client(w, actor):
    client = APIClient()
    if actor != ANON:
        client.force_authenticate(w.users[actor])
    return client


def _call(w, endpoint, action, actor):
    me = None if actor == ANON else w.users[actor]
    method, url, body = RESOURCES[endpoint].request(w, me, action)
    client = APIClient() if endpoint == "auth/token" and action == "create" else _client(w, actor)
    return getattr(client, method)(url, body, format=None if method == "get" else "json")


READS = ("list", "retrieve", "me", "transitions", "history")


def _as_admin_sees_it(w, endpoint, action):
    """What the record a write aims at looks like to an admin (the whole list for a create)."""
    admin = _client(w, "admin")
    resource = RESOURCES[endpoint]
    if action == "create":
        return admin.get(resource.url, {"page_size": 200}).json()
    if action == "restore":
        deleted = w.ids["deleted_deal" if endpoint == "deals" else "deleted_account"]
        return admin.get(f"{resource.url}{deleted}/", {"deleted": "true"}).json()
    return admin.get(resource.detail(w)).json()


@pytest.mark.parametrize(("endpoint", "action", "actor", "expected"), CASES)
def test_permission_matrix(world, db, endpoint, action, actor, expected):
    refused_write = expected >= 400 and action not in READS and endpoint != "auth/token"
    if refused_write:
        before = _as_admin_sees_it(world, endpoint, action)
    response = _call(world, endpoint, action, actor)
    assert response.status_code == expected, getattr(response, "data", response.content)
    if refused_write:
        assert _as_admin_sees_it(world, endpoint, action) == before, (
            "a refused write changed something"
        )
    if expected == 200 and (action == "update" or action.startswith("reassign")):
        _, _, sent = RESOURCES[endpoint].request(world, world.users[actor], action)
        changed = {name: value for name, value in sent.items() if name != "version"}
        assert {name: response.json()[name] for name in changed} == changed


def test_matrix_covers_every_endpoint_and_actor():
    rows = {(endpoint, action) for endpoint, action, *_ in MATRIX}
    assert {endpoint for endpoint, _ in rows} == set(RESOURCES)
    crud = {"list", "retrieve", "create", "update", "delete"}
    for endpoint in RESOURCES:
        if endpoint != "auth/token":
            assert crud <= {action for e, action in rows if e == endpoint}, endpoint
    assert all(len(codes) == len(ACTORS) for _, _, *codes in MATRIX)


def _listed_ids(client, url, query=None) -> list[int]:
    response = client.get(url, {"page_size": 200, **(query or {})})
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    return [row["id"] for row in body["results"]]


@pytest.mark.parametrize("endpoint", OWNED)
@pytest.mark.parametrize("actor", PEOPLE)
def test_lists_hold_exactly_the_records_in_scope(world, db, endpoint, actor):
    expected = set().union(*(world.owned[endpoint][owner] for owner in SCOPE[actor]))
    listed = _listed_ids(_client(world, actor), RESOURCES[endpoint].url)
    assert sorted(listed) == sorted(expected)


@pytest.mark.parametrize("actor", PEOPLE)
def test_users_list_holds_self_team_and_managers(world, db, actor):
    listed = _listed_ids(_client(world, actor), f"{API}users/")
    assert sorted(listed) == sorted(world.users[name].pk for name in PEOPLE_SEEN[actor])


@pytest.mark.parametrize("actor", PEOPLE)
def test_users_me_is_yourself(world, db, actor):
    assert _client(world, actor).get(f"{API}users/me/").json()["id"] == world.users[actor].pk


@pytest.mark.parametrize("actor", ["rep2", "outsider", "other_manager"])
def test_search_and_filters_never_reach_beyond_the_scope(world, db, actor):
    client = _client(world, actor)
    rep_id = world.users["rep"].pk
    manager_id = world.users["manager"].pk
    queries = {
        "deals": [
            {"search": "rep"},
            {"owner": rep_id},
            {"account": world.ids["account"]},
            {"team": manager_id},
        ],
        "accounts": [{"search": "rep"}, {"owner": rep_id}],
        "contacts": [{"search": "rep"}],
        "activities": [{"search": "rep"}, {"deal": world.ids["deal"]}, {"author": rep_id}],
        "quotas": [{"ordering": "-target"}],
    }
    for endpoint, filters in queries.items():
        in_scope = set().union(*(world.owned[endpoint][owner] for owner in SCOPE[actor]))
        for query in filters:
            listed = set(_listed_ids(client, RESOURCES[endpoint].url, query))
            assert listed <= in_scope, (endpoint, query)
            assert not listed & world.owned[endpoint]["rep"], (endpoint, query)
    assert _listed_ids(client, f"{API}users/", {"search": "riley"}) == []


def test_deal_list_of_the_outsider_is_exactly_their_own(world, db):
    response = _client(world, "outsider").get(f"{API}deals/")
    assert [row["name"] for row in response.json()["results"]] == ["outsider deal"]


def test_managers_see_their_team_at_any_depth(world, db):
    director = UserFactory(username="director", role="manager")
    user_set_manager(user=world.users["manager"], manager=director)
    client = APIClient()
    client.force_authenticate(director)
    for endpoint in OWNED:
        expected = set().union(
            *(world.owned[endpoint][owner] for owner in ("manager", "rep", "rep2"))
        )
        assert set(_listed_ids(client, RESOURCES[endpoint].url)) == expected, endpoint
    assert client.get(f"{API}deals/{world.ids['deal']}/").status_code == 200
    assert client.get(f"{API}users/{world.users['rep'].pk}/").status_code == 200
    reassigned = client.patch(
        f"{API}deals/{world.ids['deal']}/",
        {"owner": world.users["rep2"].pk, "version": 1},
        format="json",
    )
    assert reassigned.status_code == 200
    assert client.get(f"{API}deals/{world.ids['deal']}/").json()["owner"] == world.users["rep2"].pk


def test_an_invisible_id_answers_like_a_missing_one(world, db):
    client = _client(world, "outsider")
    missing = client.get(f"{API}deals/999999/")
    hidden = client.get(f"{API}deals/{world.ids['deal']}/")
    assert missing.status_code == hidden.status_code == 404
    assert missing.json() == hidden.json()


@pytest.mark.parametrize(
    ("endpoint", "param", "hidden"),
    [
        pytest.param("accounts", "owner", lambda w: w.users["outsider"].pk, id="accounts-owner"),
        pytest.param("contacts", "account", lambda w: w.ids["account"], id="contacts-account"),
        pytest.param("deals", "account", lambda w: w.ids["account"], id="deals-account"),
        pytest.param("activities", "deal", lambda w: w.ids["deal"], id="activities-deal"),
        pytest.param("quotas", "owner", lambda w: w.users["outsider"].pk, id="quotas-owner"),
        pytest.param("users", "manager", lambda w: w.users["other_manager"].pk, id="users-manager"),
    ],
)
def test_a_filter_on_a_hidden_id_answers_like_one_on_a_missing_id(
    world, db, endpoint, param, hidden
):
    client = _client(world, "rep2")
    url = f"{API}{endpoint}/"
    on_hidden = client.get(url, {param: hidden(world)})
    on_missing = client.get(url, {param: 987654})
    assert on_hidden.status_code == on_missing.status_code == 200
    assert on_hidden.json()["results"] == on_missing.json()["results"] == []
