"""The standard cast and the service checks every test can use.

The cast: an admin; a manager with two reps; and an outsider manager with a
rep of their own, who must see none of the first team's records.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from tests.factories import PipelineFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() == "true"


def need_postgres() -> None:
    """Skip on a laptop without PostgreSQL; under CI=true a missing PostgreSQL fails."""
    if connection.vendor != "postgresql":
        message = "this test needs PostgreSQL (set DATABASE_URL=postgres://...)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def rollup_check() -> int:
    """The query a report spends on PostgreSQL to see whether the daily rollups
    (``reports/rollups.py``) can answer it; SQLite keeps none and asks nothing."""
    return 1 if connection.vendor == "postgresql" else 0


@pytest.fixture(scope="session", autouse=True)
def collected_static():
    """Pages name static files by their hashed names, so collect them once unless nothing changed."""
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    sources = [f for d in settings.STATICFILES_DIRS for f in Path(d).rglob("*") if f.is_file()]
    newest = max(f.stat().st_mtime for f in sources)
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashing costs a third of a second per user; tests need no protection from brute force."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_embedded_recompute(settings):
    """No recompute thread behind a test's back; tests of it turn it on."""
    settings.REPORTS_EMBEDDED_RECOMPUTE = False


@pytest.fixture(autouse=True)
def broker_tried_afresh():
    """A broker failure in one test does not keep the next test from publishing."""
    from salesmgr.queue import broker_pause_end

    broker_pause_end()
    yield
    broker_pause_end()


@pytest.fixture(autouse=True)
def no_learned_trainings():
    """A change's recompute learns afresh in each test: ids repeat across tests on SQLite."""
    from reports.grouped import Learned

    Learned._kept = None
    yield
    Learned._kept = None


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (under CI it is a shared Redis database)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", role="admin", full_name="Ada Admin")


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", role="manager", full_name="Morgan Manager")


@pytest.fixture
def rep(manager):
    return UserFactory(username="rep", manager=manager, full_name="Riley Rep")


@pytest.fixture
def rep2(manager):
    return UserFactory(username="rep2", manager=manager, full_name="Robin Rep")


@pytest.fixture
def other_manager(db):
    return UserFactory(username="othermanager", role="manager", full_name="Oscar Other")


@pytest.fixture
def outsider(other_manager):
    return UserFactory(username="outsider", manager=other_manager, full_name="Olive Outsider")


@pytest.fixture
def pipeline(db):
    return PipelineFactory(name="New business")


@pytest.fixture
def stages(pipeline):
    """The pipeline's stages by name."""
    return {stage.name: stage for stage in pipeline.stages.all()}


@pytest.fixture
def client_for():
    """An API client signed in as the given user (None: anonymous)."""
    from rest_framework.test import APIClient

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


def run_together(count: int, action) -> list:
    """Run ``action()`` in ``count`` threads released at the same instant; return what each gave.

    An exception counts as the outcome. Each thread closes its own database
    connection, so the writers really are concurrent sessions.
    """
    import threading

    barrier = threading.Barrier(count)
    outcomes = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            outcome = action()
        except Exception as exc:  # noqa: BLE001 - the caller judges every outcome
            outcome = exc
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes
