"""A request that finds the database gone answers a 503 with Retry-After, JSON or a page, never a 500.

The real outage (PostgreSQL stopped under gunicorn) is in
``tests/topology``; here the mapping itself, for errors raised in a view
(the middleware) and outside one (the 500 handler).
"""

import json
import sqlite3

import pytest
from django.db import DatabaseError, InterfaceError, OperationalError
from django.test import RequestFactory

from salesmgr.middleware import DatabaseUnavailableMiddleware
from salesmgr.views import server_error


@pytest.fixture
def middleware():
    return DatabaseUnavailableMiddleware(lambda request: None)


@pytest.mark.parametrize(
    "error", [OperationalError("connection refused"), InterfaceError("connection already closed")]
)
def test_an_api_request_answers_503_json_with_retry_after(middleware, error):
    response = middleware.process_exception(RequestFactory().get("/api/v1/deals/"), error)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert "try again" in json.loads(response.content)["detail"]
    assert int(response["Retry-After"]) > 0
    assert response["Cache-Control"] == "no-store"


def test_a_page_answers_a_503_page(middleware):
    response = middleware.process_exception(
        RequestFactory().get("/deals/"), OperationalError("gone")
    )
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Back in a moment" in body and "try again" in body
    assert int(response["Retry-After"]) > 0


def test_a_page_asked_for_json_answers_json(middleware):
    request = RequestFactory().get("/deals/", headers={"Accept": "application/json"})
    response = middleware.process_exception(request, OperationalError("gone"))
    assert response["Content-Type"] == "application/json"


def test_other_errors_are_left_to_the_500_page(middleware):
    request = RequestFactory().get("/api/v1/deals/")
    assert middleware.process_exception(request, DatabaseError("a bug in a query")) is None
    assert middleware.process_exception(request, ValueError("a bug")) is None


def test_the_500_handler_answers_503_for_a_database_error_raised_outside_a_view():
    request = RequestFactory().get("/api/v1/deals/")
    try:
        raise OperationalError("the database system is shutting down")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(RequestFactory().get("/deals/")).status_code == 500


def _wrapped(message: str) -> OperationalError:
    """Django's error for a SQLite one, as its cursor raises it."""
    try:
        try:
            raise sqlite3.OperationalError(message)
        except sqlite3.OperationalError as cause:
            raise OperationalError(message) from cause
    except OperationalError as error:
        return error


@pytest.mark.parametrize("message", ["database is locked", "unable to open database file"])
def test_a_busy_or_missing_sqlite_database_answers_503(middleware, message):
    response = middleware.process_exception(RequestFactory().get("/deals/"), _wrapped(message))
    assert response.status_code == 503


@pytest.mark.parametrize("message", ['near "(": syntax error', "no such function: ANY"])
def test_a_sqlite_statement_error_is_a_bug_left_to_the_500_page(middleware, message):
    request = RequestFactory().get("/api/v1/deals/")
    assert middleware.process_exception(request, _wrapped(message)) is None
