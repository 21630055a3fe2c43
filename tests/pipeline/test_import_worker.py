"""A real Celery worker, started as a subprocess, runs an import's dry run and run in slices.

Needs PostgreSQL (the worker reads what this test committed) and Redis (the
broker): skipped without them on a laptop, failed under CI=true.
"""

import datetime
import os
import time

import pytest
from django.utils import timezone

from pipeline.models import Deal, ImportJob
from salesmgr.celery import app as celery_app
from tests.conftest import need_postgres
from tests.factories import AccountFactory
from tests.pipeline.import_helpers import csv_upload
from tests.redis_server import start_worker, stop_worker
from tests.reports.test_worker import need_redis

WAIT_SECONDS = 90

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def worker(transactional_db, monkeypatch, tmp_path, settings):
    """A worker sharing this test's media folder, with one two-row batch per slice."""
    need_postgres()
    need_redis()
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    monkeypatch.setenv("MEDIA_ROOT", str(media))
    monkeypatch.setenv("IMPORT_BATCH_ROWS", "2")
    monkeypatch.setenv("IMPORT_SLICE_SECONDS", "1")
    log = tmp_path / "worker.log"
    process = start_worker(redis_url=os.environ["REDIS_URL"], log=log)
    try:
        yield process, log
    finally:
        stop_worker(process)


def _wait(job_id: int, status: str, process, log) -> ImportJob:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the worker exited:\n{log.read_text()}"
        job = ImportJob.objects.get(pk=job_id)
        if job.status == status:
            return job
        time.sleep(0.5)
    raise AssertionError(
        f"job {job_id} is {job.status}, not {status}; worker log:\n{log.read_text()}"
    )


def test_a_real_worker_checks_and_imports_a_file(worker, rep, pipeline, client_for):
    process, log = worker
    AccountFactory(owner=rep, name="Acme")
    close = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    rows = [[f"w-{n}", f"Deal {n}", "Acme", "", "Discovery", "10", "USD", close] for n in range(5)]
    client = client_for(rep)
    response = client.post(
        "/api/v1/imports/", {"kind": "deals", "file": csv_upload(rows)}, format="multipart"
    )
    job = response.json()
    client.post(f"/api/v1/imports/{job['id']}/check/", {"mapping": job["mapping"]}, format="json")
    checked = _wait(job["id"], "checked", process, log)
    assert (checked.created, checked.done) == (5, 5)
    assert not Deal.objects.exists()

    client.post(f"/api/v1/imports/{job['id']}/run/")
    done = _wait(job["id"], "done", process, log)
    assert (done.created, done.rejected) == (5, 0)
    assert Deal.objects.filter(owner=rep).count() == 5
