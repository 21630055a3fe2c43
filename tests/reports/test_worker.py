"""A real Celery worker, started as a subprocess, recomputes a scope queued through the API.

Needs PostgreSQL (the worker reads what this test committed) and Redis (the
broker and result backend both processes share): skipped without them on a
laptop, failed under CI=true.
"""

import os
import time
from decimal import Decimal

import pytest

from reports.models import ForecastSnapshot, MetricSnapshot
from salesmgr.celery import app as celery_app
from tests.conftest import IN_CI, need_postgres
from tests.redis_server import start_worker, stop_worker

WAIT_SECONDS = 60

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def need_redis() -> None:
    if not os.environ.get("REDIS_URL"):
        message = "this test needs Redis (set REDIS_URL=redis://...)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def worker(transactional_db, monkeypatch, tmp_path):
    """A solo-pool worker on the test database and the configured broker; always stopped."""
    need_postgres()
    need_redis()
    # Publish for real even if another test left the app eager.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    log = tmp_path / "worker.log"
    process = start_worker(redis_url=os.environ["REDIS_URL"], log=log)
    try:
        yield process, log
    finally:
        stop_worker(process)


def test_a_real_worker_recomputes_a_refreshed_scope(worker, history, rep, client_for):
    process, log = worker
    client = client_for(rep)
    response = client.post("/api/v1/metrics/refresh/", {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["scope"] == f"owner={rep.pk}"

    deadline = time.monotonic() + WAIT_SECONDS
    state = None
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            f"the worker exited with {process.returncode}:\n{log.read_text()}"
        )
        answer = client.get(body["status_url"])
        assert answer.status_code == 200, answer.content
        state = answer.json()["state"]
        if state in ("SUCCESS", "FAILURE"):
            break
        time.sleep(0.5)
    assert state == "SUCCESS", (
        f"task state {state} after {WAIT_SECONDS} s; worker log:\n{log.read_text()}"
    )

    snapshot = MetricSnapshot.objects.get(scope_key=f"owner={rep.pk}")
    assert snapshot.data["open_deals"] == 2
    assert Decimal(snapshot.data["open_value"]) == Decimal("2300.00")
    assert ForecastSnapshot.objects.filter(scope_key=f"owner={rep.pk}").count() == 3
    assert client.get("/api/v1/metrics/funnel/").json()["source"] == "snapshot"
    assert body["task_id"] in log.read_text()
