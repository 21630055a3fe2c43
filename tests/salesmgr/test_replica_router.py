"""The database router against a second connection: which surface reads from the replica.

A ``replica`` alias is configured for these tests only, as a mirror of the
test database (``TEST: {"MIRROR": "default"}``): a second connection that,
like a streaming replica, sees only what the primary committed. The tests
run outside a test transaction for that reason, and capture the queries of
both connections around each request.
"""

import copy
import re
import time

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from pipeline.models import Deal, Stage
from reports.tasks import snapshot_scopes
from salesmgr.dbrouter import REPLICA, reads_on_replica
from salesmgr.middleware import PRIMARY_PIN_COOKIE
from salesmgr.models import User
from tests.conftest import need_postgres
from tests.factories import PASSWORD, AccountFactory, DealFactory, PipelineFactory, UserFactory

FIRST_TABLE = re.compile(r'\bFROM\s+"(\w+)"', re.IGNORECASE)
# Tables whose reads never leave the primary (who is signed in, and with what rights).
AUTH_TABLES = {"django_session", "salesmgr_user", "authtoken_token", "salesmgr_signinthrottle"}


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup):
    """A ``replica`` alias on the test database while this module runs (set up before each
    test's database access is granted, so the tests can name it)."""
    config = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    config["TEST"] = {**config.get("TEST", {}), "MIRROR": DEFAULT_DB_ALIAS}
    connections.settings[REPLICA] = config
    try:
        yield config
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


# Outside a test transaction: the replica connection sees what the primary committed, no more.
uses_replica = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


@pytest.fixture
def replica():
    need_postgres()
    return connections[REPLICA]


@pytest.fixture
def org():
    """A manager with two reps and their deals, and an outside team; committed, with snapshots."""
    manager = UserFactory(username="manager", role="manager")
    reps = [UserFactory(username=f"rep{i}", role="rep", manager=manager) for i in range(2)]
    boss = UserFactory(username="boss", role="manager")
    outsider = UserFactory(username="outsider", role="rep", manager=boss)
    pipeline = PipelineFactory()
    for owner in [*reps, outsider]:
        for _ in range(3):
            DealFactory(owner=owner, pipeline=pipeline)
    from reports.services import standard_scopes

    snapshot_scopes.apply(args=[[scope.key for scope in standard_scopes()]])
    return {"manager": manager, "reps": reps, "outsider": outsider, "pipeline": pipeline}


class Captured:
    def __init__(self):
        self.primary = CaptureQueriesContext(connections[DEFAULT_DB_ALIAS])
        self.replica = CaptureQueriesContext(connections[REPLICA])

    def __enter__(self):
        self.primary.__enter__()
        self.replica.__enter__()
        return self

    def __exit__(self, *exc):
        self.replica.__exit__(*exc)
        self.primary.__exit__(*exc)

    @staticmethod
    def _tables(captured) -> list[str]:
        return [
            m.group(1) if (m := FIRST_TABLE.search(q["sql"])) else q["sql"][:40] for q in captured
        ]

    @property
    def primary_tables(self) -> list[str]:
        return self._tables(self.primary.captured_queries)

    @property
    def replica_tables(self) -> list[str]:
        return self._tables(self.replica.captured_queries)


def _get(client, url: str) -> Captured:
    with Captured() as captured:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, (url, response.status_code, body[:300])
    return captured


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user: User) -> APIClient:
    """An API client holding a real token, as a script would (the token endpoint is a POST, so a
    throwaway client asks for it: its pin must not follow the token)."""
    answer = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {answer.json()['token']}")
    return client


REPLICA_SURFACES = [
    ("browser", "/dashboard/"),
    ("browser", "/gap/"),
    ("browser", "/home/panels/"),
    ("browser", "/reports/team-health/"),
    ("browser", "/reports/lost-reasons/export.csv"),
    ("browser", "/deals/export.csv"),
    ("api", "/api/v1/metrics/funnel/"),
    ("api", "/api/v1/metrics/series/?interval=month"),
    ("api", "/api/v1/forecasts/"),
    ("api", "/api/v1/gap/"),
]
PRIMARY_SURFACES = [
    ("browser", "/"),
    ("browser", "/reports/"),  # the catalog's index lists reports, it reads no figures
    ("browser", "/deals/"),
    ("browser", "/dashboard/status/"),
    ("api", "/api/v1/deals/"),
    ("api", "/api/v1/users/"),
]


@uses_replica
def test_the_reports_heavy_reads_go_to_the_replica_and_auth_stays_on_the_primary(replica, org):
    clients = {"browser": _browser(org["manager"]), "api": _api(org["manager"])}
    for kind, url in REPLICA_SURFACES:
        captured = _get(clients[kind], url)
        assert captured.replica_tables, f"{url} read nothing from the replica"
        assert not AUTH_TABLES & set(captured.replica_tables), (url, captured.replica_tables)
        business = [
            t
            for t in captured.primary_tables
            if t.split("_")[0] in {"pipeline", "reports", "quotas"}
        ]
        assert not business, f"{url} read business tables from the primary: {business}"


@uses_replica
def test_other_pages_and_lists_read_from_the_primary(replica, org):
    clients = {"browser": _browser(org["manager"]), "api": _api(org["manager"])}
    for kind, url in PRIMARY_SURFACES:
        captured = _get(clients[kind], url)
        assert captured.primary_tables, url
        assert captured.replica_tables == [], (url, captured.replica_tables)


@uses_replica
def test_an_api_client_reads_its_own_write_from_the_primary_then_the_replica_again(
    replica, org, settings
):
    settings.DATABASE_REPLICA_PIN_SECONDS = 2
    rep, other = org["reps"]
    client = _api(rep)
    account = AccountFactory(owner=rep)
    with Captured() as write:
        created = client.post(
            "/api/v1/deals/",
            {
                "name": "Fresh",
                "account": account.pk,
                "pipeline": org["pipeline"].pk,
                "amount": "500.00",
                "expected_close_date": "2030-01-31",
            },
        )
    assert created.status_code == 201, created.content
    assert write.replica_tables == []  # the write and everything it read: the primary

    pinned = _get(client, "/api/v1/metrics/funnel/")
    assert pinned.replica_tables == []
    assert any(t.startswith(("pipeline_", "reports_")) for t in pinned.primary_tables)
    # Another client (another user) is not pinned by this one's write.
    assert _get(_api(other), "/api/v1/metrics/funnel/").replica_tables

    time.sleep(2.2)
    assert _get(client, "/api/v1/metrics/funnel/").replica_tables


@uses_replica
def test_a_browser_that_wrote_is_pinned_to_the_primary_by_a_cookie(replica, org):
    rep = org["reps"][0]
    deal = Deal.objects.filter(owner=rep).first()
    client = _browser(rep)
    assert _get(client, "/api/v1/metrics/funnel/").replica_tables
    next_stage = Stage.objects.filter(pipeline=deal.pipeline, order=2).get()
    moved = client.post(
        f"/api/v1/deals/{deal.pk}/move/",
        {"stage": next_stage.pk, "version": deal.version},
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    assert moved.cookies[PRIMARY_PIN_COOKIE]["max-age"] > 0
    after = _get(client, "/api/v1/metrics/funnel/")
    assert after.replica_tables == []
    assert _get(client, "/api/v1/forecasts/").replica_tables == []


@uses_replica
def test_the_router_keeps_writes_migrations_auth_and_reads_in_a_transaction_on_the_primary(
    replica, org
):
    assert router.db_for_read(Deal) == DEFAULT_DB_ALIAS  # outside a routed request
    with reads_on_replica():
        assert router.db_for_read(Deal) == REPLICA
        assert router.db_for_read(User) == DEFAULT_DB_ALIAS
        assert router.db_for_write(Deal) == DEFAULT_DB_ALIAS
        with CaptureQueriesContext(connections[REPLICA]) as on_replica:
            Deal.objects.count()
        assert len(on_replica) == 1
        with transaction.atomic(), CaptureQueriesContext(connections[REPLICA]) as on_replica:
            assert router.db_for_read(Deal) == DEFAULT_DB_ALIAS
            Deal.objects.select_for_update().filter(owner=org["reps"][0]).count()
            Deal.objects.count()
        assert len(on_replica) == 0
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "pipeline") is True
    assert router.allow_migrate(REPLICA, "pipeline") is False


@pytest.mark.django_db(transaction=True)
def test_without_a_replica_nothing_is_routed_and_no_pin_is_set(org, replica_alias):
    del connections.settings[REPLICA]
    try:
        with reads_on_replica():
            assert router.db_for_read(Deal) == DEFAULT_DB_ALIAS
        client = _browser(org["reps"][0])
        response = client.post("/api/v1/deals/0/move/", {}, content_type="application/json")
        assert response.status_code == 404
        assert PRIMARY_PIN_COOKIE not in response.cookies
    finally:
        connections.settings[REPLICA] = replica_alias
