"""The yardstick of the list benchmark lists what the API lists: the same deals, in the same order."""

import datetime
import io
import json

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from benchmarks._measure import alternate, machine_load
from benchmarks.bare_handler import make_app
from pipeline.services import deal_delete
from tests.conftest import need_postgres
from tests.factories import AccountFactory, DealFactory, UserFactory


def bare_get(app, token: str | None, query: str = "page_size=50") -> tuple[str, dict]:
    """One request to the WSGI app in this process, on the test's own connection."""
    answered = {}
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/deals/",
        "QUERY_STRING": query,
        "wsgi.input": io.BytesIO(),
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Token {token}"
    body = b"".join(app(environ, lambda status, headers: answered.update(status=status)))
    return answered["status"], json.loads(body)


@pytest.fixture
def bare_app(db):
    need_postgres()
    connection.ensure_connection()
    return make_app(lambda: connection.connection)


def test_the_bare_handler_lists_the_deals_the_api_lists(
    bare_app, client_for, admin, manager, rep, rep2, outsider, pipeline
):
    today = timezone.localdate()
    for index, owner in enumerate([rep, rep, rep2, manager, outsider] * 3):
        # Ties on the close date, so the order's second key (id) matters too.
        DealFactory(
            owner=owner,
            pipeline=pipeline,
            account=AccountFactory(owner=owner),
            expected_close_date=today + datetime.timedelta(days=index % 4),
        )
    gone = DealFactory(owner=rep, pipeline=pipeline, account=AccountFactory(owner=rep))
    deal_delete(deal=gone, by=rep)
    for user, expected in ((admin, 15), (manager, 12), (rep, 6), (rep2, 3), (outsider, 3)):
        token = Token.objects.get_or_create(user=user)[0].key
        api = client_for(user).get("/api/v1/deals/?page_size=4").json()
        status, bare = bare_get(bare_app, token, "page_size=4")
        assert status == "200 OK"
        assert bare["count"] == api["count"] == expected, user.username
        assert bare["count_exact"] is api["count_exact"] is True
        assert [d["id"] for d in bare["results"]] == [d["id"] for d in api["results"]], (
            user.username
        )
        assert set(bare["results"][0]) == set(api["results"][0])
        if expected <= 4:
            continue
        status, page_two = bare_get(bare_app, token, "page_size=4&page=2")
        api_two = client_for(user).get("/api/v1/deals/?page_size=4&page=2").json()
        assert [d["id"] for d in page_two["results"]] == [d["id"] for d in api_two["results"]]


def test_the_bare_handler_refuses_what_it_cannot_serve(bare_app):
    assert bare_get(bare_app, None)[0].startswith("401")
    assert bare_get(bare_app, "not-a-token")[0].startswith("401")
    token = Token.objects.create(user=UserFactory(username="someone")).key
    assert bare_get(bare_app, token, "page_size=zero")[0].startswith("400")


def test_alternate_times_every_step_every_round_and_counts_failures():
    calls = []
    timings = alternate(
        {"a": lambda: calls.append("a") or True, "b": lambda: calls.append("b") or None}, 5
    )
    assert len(timings["a"].times) == 5 and timings["b"].errors == 5
    assert sorted(calls[0:2]) == ["a", "b"]  # each round calls both before the next round
    assert machine_load().cpus >= 1
