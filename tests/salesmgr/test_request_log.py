"""Request ids: sent back in X-Request-ID, on every log line of the request, and in the worker's lines."""

import io
import json
import logging
import os
import sys
import time
import uuid

import pytest
from django.conf import settings

from pipeline.models import ImportJob
from salesmgr.audit.models import AuditEvent, AuditKind
from salesmgr.celery import app as celery_app
from salesmgr.log import JsonFormatter, LogContextFilter
from tests.conftest import need_postgres
from tests.factories import PASSWORD, AccountFactory
from tests.pipeline.import_helpers import csv_upload
from tests.redis_server import start_worker, stop_worker
from tests.reports.test_worker import need_redis

ME = "/api/v1/users/me/"


@pytest.fixture
def json_lines():
    """The lines logged during the test, as the production handler writes them (parsed)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    try:
        yield lines
    finally:
        root.removeHandler(handler)


def test_the_request_id_sent_comes_back_and_is_on_the_request_line(rep, client_for, json_lines):
    response = client_for(rep).get(ME, HTTP_X_REQUEST_ID="client-id_1.2:3")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "client-id_1.2:3"
    [line] = [line for line in json_lines() if line["logger"] == "salesmgr.request"]
    assert line["request_id"] == "client-id_1.2:3"
    assert (line["method"], line["path"], line["status"]) == ("GET", ME, 200)
    assert line["user_id"] == rep.pk
    assert line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float)


def test_a_request_without_an_id_gets_a_new_one_each_time(rep, client_for):
    client = client_for(rep)
    first, second = client.get(ME)["X-Request-ID"], client.get(ME)["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize(
    "bad",
    ["x" * 129, "has space", "line\nbreak", "<script>", "-leading-dash", "é", "a;b", '"q"'],
)
def test_a_bad_incoming_request_id_is_replaced(bad, rep, client_for, json_lines):
    response = client_for(rep).get(ME, HTTP_X_REQUEST_ID=bad)
    given = response["X-Request-ID"]
    assert given != bad
    assert len(given) == 32
    assert {line["request_id"] for line in json_lines()} == {given}


def test_a_view_log_line_and_the_audit_event_carry_the_request_id(rep, client, json_lines):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "rep", "password": PASSWORD},
        content_type="application/json",
        HTTP_X_REQUEST_ID="token-signin-1",
    )
    assert response.status_code == 200
    audit_lines = [line for line in json_lines() if line["logger"] == "salesmgr.audit"]
    assert [line["request_id"] for line in audit_lines] == ["token-signin-1"]
    assert "signin" in audit_lines[0]["message"]
    event = AuditEvent.objects.get(kind=AuditKind.SIGNIN)
    assert event.request_id == "token-signin-1"
    assert event.ip_address == "127.0.0.1"


def test_django_s_own_warning_for_a_404_carries_the_request_id(rep, client_for, json_lines):
    response = client_for(rep).get("/api/v1/deals/999999/", HTTP_X_REQUEST_ID="missing-1")
    assert response.status_code == 404
    warnings = [line for line in json_lines() if line["logger"] == "django.request"]
    assert warnings and {line["request_id"] for line in warnings} == {"missing-1"}


def test_after_the_request_lines_carry_no_request_id(rep, client_for, json_lines):
    client_for(rep).get(ME, HTTP_X_REQUEST_ID="done-1")
    logging.getLogger("tests").warning("between requests")
    assert json_lines()[-1]["request_id"] == "-"
    assert json_lines()[-1]["user_id"] is None


def test_the_json_formatter_writes_one_valid_object_per_line():
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "salesmgr.test", logging.ERROR, __file__, 1, 'a "quoted"\nmessage: %s', ("déjà",), exc_info
    )
    LogContextFilter().filter(record)
    text = formatter.format(record)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == 'a "quoted"\nmessage: déjà'
    assert (entry["level"], entry["logger"], entry["request_id"]) == ("ERROR", "salesmgr.test", "-")
    assert "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_the_log_format_follows_the_setting():
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["formatter"] == settings.LOG_FORMAT
    assert handler["filters"] == ["context"]


# A real worker: the id of the request that queued a task is on the worker's lines for it.


@pytest.fixture
def json_worker(transactional_db, monkeypatch, tmp_path, settings):
    need_postgres()
    need_redis()
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    monkeypatch.setenv("LOG_FORMAT", "json")
    log = tmp_path / "worker.log"
    process = start_worker(redis_url=os.environ["REDIS_URL"], log=log)
    try:
        yield process, log
    finally:
        stop_worker(process)


def _wait_for(job_id: int, status: str, process, log) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the worker exited:\n{log.read_text()}"
        if ImportJob.objects.get(pk=job_id).status == status:
            return
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached {status}:\n{log.read_text()}")


def _worker_lines(log) -> list[dict]:
    lines = []
    for text in log.read_text().splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def test_the_worker_s_lines_for_a_task_carry_the_id_of_the_request_that_queued_it(
    json_worker, rep, pipeline, client_for
):
    process, log = json_worker
    AccountFactory(owner=rep, name="Acme")
    rows = [
        [f"r-{n}", f"Deal {n}", "Acme", "", "Discovery", "10", "USD", "2031-01-31"]
        for n in range(3)
    ]
    client = client_for(rep)
    job = client.post(
        "/api/v1/imports/", {"kind": "deals", "file": csv_upload(rows)}, format="multipart"
    ).json()
    client.post(f"/api/v1/imports/{job['id']}/check/", {"mapping": job["mapping"]}, format="json")
    _wait_for(job["id"], "checked", process, log)
    run_id = f"run-{uuid.uuid4().hex}"
    answer = client.post(f"/api/v1/imports/{job['id']}/run/", HTTP_X_REQUEST_ID=run_id)
    assert answer["X-Request-ID"] == run_id
    _wait_for(job["id"], "done", process, log)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ours = [line for line in _worker_lines(log) if line["request_id"] == run_id]
        if any(line["logger"] == "salesmgr.audit" for line in ours):
            break
        time.sleep(0.2)
    assert any("succeeded" in line["message"] for line in ours), log.read_text()
    assert all(line["user_id"] == rep.pk for line in ours)
    finished = AuditEvent.objects.get(kind=AuditKind.IMPORT_FINISHED)
    assert finished.request_id == run_id
    assert (finished.actor, finished.details["created"]) == (rep, 3)
