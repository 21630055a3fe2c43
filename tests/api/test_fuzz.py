"""Schemathesis fuzzes the whole REST API against its own OpenAPI schema, in-process.

Every operation of ``/api/v1/schema/`` is called through the WSGI app with
generated valid and invalid input, signed in with a token as a rep and as an
admin, over a small but realistic organisation. Every Schemathesis check runs:
no 5xx, only documented status codes, content types, headers and bodies,
invalid input rejected, valid reads accepted, auth enforced. Stateful runs
chain creates, reads, changes and deletes (the links Schemathesis infers) to
catch use-after-free and resources missing right after their creation.

The organisation is built once for the module inside a transaction that is
rolled back at the end; every generated request (or stateful scenario) runs in
a savepoint that is rolled back too, so each example sees the same data and a
failure replays the same. A fixed seed and deterministic generation make two
runs send the same requests.
"""

import datetime
import re
import zlib
from decimal import Decimal

import hypothesis
import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance, use_after_free

from pipeline.models import Contact, Deal
from pipeline.services import LineItemSpec, activity_log, deal_delete, deal_move, line_items_set
from quotas.models import Quota, Territory
from quotas.services import quota_set, territory_set_parent
from salesmgr.models import Role
from salesmgr.wsgi import application
from tests.factories import (
    AccountFactory,
    DealFactory,
    LostReasonFactory,
    PipelineFactory,
    ProductFactory,
    UserFactory,
)

# Without the mark pytest-django would not create the test database for this module.
pytestmark = pytest.mark.django_db

SCHEMA_PATH = "/api/v1/schema/"
TOKENS = {
    "rep": "fuzz-rep-0000000000000000000000000000000",
    "admin": "fuzz-admin-00000000000000000000000000000",
}
SEED = 20240611


def _config(*, coverage: bool) -> dict:
    return {
        "seed": SEED,
        "suppress-health-check": [
            "too_slow",
            "filter_too_much",
            "data_too_large",
            "large_base_example",
        ],
        "generation": {
            "mode": "all",
            "max-examples": 10,
            "deterministic": True,
            "database": "none",
            "no-shrink": True,
        },
        # Every check, explicitly: one added in a later Schemathesis release is on too.
        "checks": {"enabled": True},
        # Values mined from the app's source code would make the requests change with any
        # edit anywhere; the schema and the seed alone decide them.
        "analysis": {"constants": {"enabled": False}},
        "phases": {
            "examples": {"enabled": True},
            # The coverage phase walks every boundary and wrong type of every parameter: it is
            # most of the run's time and the same for any role, so one role is enough.
            "coverage": {"enabled": coverage},
            "fuzzing": {"enabled": True},
        },
    }


STATEFUL = hypothesis.settings(
    max_examples=25,
    stateful_step_count=8,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)

# Input fields (body and query) that name another record, and what they name.
REFERENCES = {
    "account": "accounts",
    "deal": "deals",
    "owner": "users",
    "manager": "users",
    "author": "users",
    "team": "users",
    "reps": "users",
    "rep": "users",
    "pipeline": "pipelines",
    "stage": "stages",
    "lost_reason": "lost-reasons",
    "product": "products",
    "territory": "territories",
    "parent": "territories",
}
# The organisation's ids by resource (the path segment under /api/v1/), filled by `world`.
WORLD: dict[str, list[int]] = {}
DEAL_VERSIONS: dict[int, int] = {}


def _build_world() -> None:
    """Two teams, one pipeline, a catalogue, territories, quotas and deals at every stage."""
    admin = UserFactory(username="admin", role=Role.ADMIN, full_name="Ada Admin")
    manager = UserFactory(username="manager", role=Role.MANAGER, full_name="Morgan Manager")
    rep = UserFactory(username="rep", manager=manager, full_name="Riley Rep")
    rep2 = UserFactory(username="rep2", manager=manager, full_name="Robin Rep")
    other_manager = UserFactory(username="othermanager", role=Role.MANAGER, full_name="Oscar Other")
    outsider = UserFactory(username="outsider", manager=other_manager, full_name="Olive Outsider")
    Token.objects.create(user=rep, key=TOKENS["rep"])
    Token.objects.create(user=admin, key=TOKENS["admin"])

    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    reasons = [LostReasonFactory(name=name) for name in ("Price", "Competitor", "No budget")]
    seats = ProductFactory(name="Seats", sku="SEAT-1", unit_price=Decimal("40.00"))
    onboarding = ProductFactory(name="Onboarding", sku="ONB-1", unit_price=Decimal("2500.00"))

    emea = Territory.objects.create(name="EMEA", region="EMEA")
    dach = Territory.objects.create(name="DACH", region="EMEA")
    territory_set_parent(territory=dach, parent=emea)
    dach.reps.add(rep)

    month_start = timezone.localdate().replace(day=1)
    month_end = (month_start + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(
        days=1
    )
    for owner in (rep, rep2, manager, outsider):
        quota_set(
            owner=owner, period_start=month_start, period_end=month_end, target=Decimal("50000.00")
        )

    accounts, deals, activities = [], [], []
    for owner in (rep, rep2, outsider):
        account = AccountFactory(owner=owner, name=f"{owner.full_name} GmbH", territory=dach)
        accounts.append(account)
        Contact.objects.create(
            account=account, first_name="Kim", last_name="Buyer", email="kim@example.com"
        )

        def deal(name, account=account, owner=owner):
            return DealFactory(
                owner=owner, account=account, pipeline=pipeline, name=f"{owner.username} {name}"
            )

        fresh = deal("fresh")
        fresh = line_items_set(
            deal=fresh,
            items=[
                LineItemSpec(product=seats, quantity=Decimal("10")),
                LineItemSpec(product=onboarding, quantity=Decimal("1")),
            ],
            by=owner,
            expected_version=fresh.version,
        )
        proposal = deal("proposal")
        for stage in ("Discovery", "Proposal"):
            proposal = deal_move(
                deal=proposal, to_stage=stages[stage], by=owner, expected_version=proposal.version
            )
        won = deal("won")
        won = deal_move(deal=won, to_stage=stages["Won"], by=owner, expected_version=won.version)
        lost = deal("lost")
        lost = deal_move(
            deal=lost,
            to_stage=stages["Lost"],
            by=owner,
            expected_version=lost.version,
            lost_reason=reasons[0],
        )
        deleted = deal_delete(deal=deal("deleted"), by=owner)
        deals += [fresh, proposal, won, lost, deleted]
        activities.append(activity_log(by=owner, kind="call", subject="Intro call", deal=fresh))
        activities.append(
            activity_log(by=owner, kind="note", subject="Account plan", account=account)
        )

    WORLD.update(
        {
            "users": [u.pk for u in (admin, manager, rep, rep2, other_manager, outsider)],
            "pipelines": [pipeline.pk],
            "stages": [stage.pk for stage in stages.values()],
            "lost-reasons": [reason.pk for reason in reasons],
            "products": [seats.pk, onboarding.pk],
            "territories": [emea.pk, dach.pk],
            "accounts": [account.pk for account in accounts],
            "contacts": list(Contact.objects.values_list("pk", flat=True)),
            "deals": [d.pk for d in deals],
            "activities": [activity.pk for activity in activities],
            "quotas": list(Quota.objects.values_list("pk", flat=True)),
        }
    )
    DEAL_VERSIONS.update(Deal.objects.values_list("pk", "version"))


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The organisation, built once for the module and rolled back after it."""
    # The app runs inside the test's transaction: Django must not close the connection after a request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with (
            django_db_blocker.unblock(),
            override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
            transaction.atomic(),
        ):
            # Never on a real database: pytest-django makes the test one only for django_db tests.
            name = str(connection.settings_dict["NAME"])
            assert name.startswith("test_") or "memorydb" in name, name
            _build_world()
            yield WORLD
            transaction.set_rollback(True)
    finally:
        WORLD.clear()
        DEAL_VERSIONS.clear()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _as_id(value) -> int | None:
    """``value`` as a whole number, whether generated as one or (in paths and queries) as its text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value):
        return int(value)
    return None


def _pick(options: list, salt: str):
    """One of ``options``, the same one every run for the same salt."""
    return options[zlib.crc32(salt.encode()) % len(options)]


def _aimed(value, ids: list[int], salt: str):
    """``value``, or (mostly) one of ``ids`` in its place, written the same way (number or text)."""
    number = _as_id(value)
    if number is None or number in ids:
        return value
    chosen = _pick([*ids, number], salt)
    return str(chosen) if isinstance(value, str) else chosen


def _real_references(value, name: str, salt: str):
    """``value`` with the ids it names (by field name) mostly swapped for ids of real records."""
    ids = WORLD.get(REFERENCES.get(name, ""))
    if ids and _as_id(value) is not None:
        return _aimed(value, ids, f"{salt}/{name}")
    if isinstance(value, dict):
        return {key: _real_references(item, key, salt) for key, item in value.items()}
    if isinstance(value, list):
        return [_real_references(item, name, f"{salt}/{i}") for i, item in enumerate(value)]
    return value


def _aim_at_real_records(case, *, path: bool = True) -> None:
    """Point generated ids at the organisation's records, so requests get past "no such record".

    Generated ids almost never exist; without this, writes would stop at 404 or
    "invalid pk" before their validation and business rules ever ran. Some ids
    are left as generated so the not-found paths are exercised too.
    """
    body = (
        case.body if isinstance(case.body, (dict, list, str, int, float)) else None
    )  # not NotSet's repr
    salt = f"{case.operation.label}|{case.path_parameters!r}|{case.query!r}|{body!r}"
    resource = case.operation.path.split("/")[3]
    if path and case.path_parameters and "id" in case.path_parameters and WORLD.get(resource):
        case.path_parameters["id"] = _aimed(case.path_parameters["id"], WORLD[resource], salt)
    if case.query:
        case.query = _real_references(case.query, "", salt)
    if isinstance(case.body, dict):
        case.body = _real_references(case.body, "", salt)
        deal_id = _as_id((case.path_parameters or {}).get("id")) if resource == "deals" else None
        if deal_id in DEAL_VERSIONS and _as_id(case.body.get("version")) is not None:
            case.body["version"] = _pick(
                [DEAL_VERSIONS[deal_id], case.body["version"]], f"{salt}/version"
            )


# Reads whose query has rules OpenAPI cannot state: a period starts before it ends and spans
# ten years at most, a forecast is made as of today or earlier. A schema-valid query may
# rightly answer 400 there.
CROSS_FIELD_RULES = {
    "/api/v1/metrics/funnel/",
    "/api/v1/metrics/series/",
    "/api/v1/forecasts/",
    "/api/v1/forecasts/accuracy/",
}
# Insights: a custom period needs both its ends, and a manager or admin must name the rep.
CROSS_FIELD_RULES.add("/api/v1/insights/")
# The capacity plan: an admin (who has no team of their own) must name the manager.
CROSS_FIELD_RULES.add("/api/v1/capacity-plan/")


def _excluded_checks(case) -> list:
    if case.operation.path.startswith("/api/v1/users/"):
        # DELETE of a person deactivates them and they stay readable (their deals keep their
        # owner): by design, not a use after free.
        excluded = [use_after_free]
    else:
        excluded = []
    if case.method.upper() == "GET" and case.operation.path not in CROSS_FIELD_RULES:
        return excluded
    # A write can match the schema and still break a rule the schema cannot state
    # (a lost stage needs a reason, quota periods may not overlap, the version must
    # be current): the API rightly answers 400 or 409, so acceptance is only asked of reads.
    return [*excluded, positive_data_acceptance]


def _auth(role: str) -> dict[str, str]:
    # Uncompressed answers: the WSGI transport hands the fuzzer the body as sent,
    # and it does not undo gzip (compression has its own test in tests/salesmgr).
    return {"Authorization": f"Token {TOKENS[role]}", "Accept-Encoding": "identity"}


def _load(role: str, *, coverage: bool):
    config = schemathesis.Config.from_dict(_config(coverage=coverage))
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, application, config=config)
    schema.config.update(headers=_auth(role))
    return schema


# Loaded at import, which needs no database: the plugin then makes one test per operation.
# (schemathesis.pytest.from_fixture reads Node._nodeid, which pytest 9 no longer has.)
rep_schema = _load("rep", coverage=False)
admin_schema = _load("admin", coverage=True)


def _call(case, role: str) -> None:
    cache.clear()  # the failed sign-in counter lives there
    _aim_at_real_records(case)
    with transaction.atomic():
        # The token is passed here too, not only set in the config: Schemathesis then knows
        # it for the caller's own credentials and does not take it for generated ones.
        case.call_and_validate(headers=_auth(role), excluded_checks=_excluded_checks(case))
        transaction.set_rollback(True)
    _token_kept(role)


def _token_kept(role: str) -> None:
    """The caller's token outlives every call: a fuzzed `DELETE /auth/token/` is rolled back with the rest.

    Were it not, every later request would run unauthenticated and only exercise the 401s.
    """
    assert Token.objects.filter(key=TOKENS[role]).exists(), f"the {role}'s token was revoked"


@rep_schema.parametrize()
def test_api_as_rep(case, world):
    _call(case, "rep")


@admin_schema.parametrize()
def test_api_as_admin(case, world):
    _call(case, "admin")


def _run_workflows(schema, role: str) -> None:
    class Workflows(schema.as_state_machine()):
        """Each scenario starts from the organisation as built and is rolled back after."""

        def setup(self):
            cache.clear()
            self._scenario = transaction.atomic()
            self._scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self._scenario.__exit__(None, None, None)
            _token_kept(role)

        def before_call(self, case):
            # Ids in paths come from earlier responses (the links); only references in input are aimed.
            _aim_at_real_records(case, path=False)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                headers=_auth(role),
                additional_checks=additional_checks,
                excluded_checks=_excluded_checks(case),
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Workflows.run(settings=STATEFUL)


def test_workflows_as_rep(world):
    _run_workflows(rep_schema, "rep")


def test_workflows_as_admin(world):
    _run_workflows(admin_schema, "admin")
