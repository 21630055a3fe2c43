"""Two Celery queues: "interactive" for what a person waits for, "heavy" for the long work."""

import json
import os

import pytest
import redis
from django.conf import settings

from reports.services import scopes_mark_dirty
from reports.tasks import nightly_snapshots, recompute_dirty_scopes
from salesmgr.celery import app
from salesmgr.queue import HEAVY_QUEUE, INTERACTIVE_QUEUE
from tests.conftest import IN_CI

EXPECTED = {
    "reports.snapshot_scope": INTERACTIVE_QUEUE,
    "reports.recompute_dirty_scopes": INTERACTIVE_QUEUE,
    "reports.snapshot_scopes": HEAVY_QUEUE,
    "reports.nightly_snapshots": HEAVY_QUEUE,
    "reports.mature_forecasts": HEAVY_QUEUE,
    "pipeline.run_import": HEAVY_QUEUE,
    "pipeline.realign_territories": HEAVY_QUEUE,
    "pipeline.requeue_stalled_realignments": INTERACTIVE_QUEUE,
    "pipeline.purge_deleted_deals": HEAVY_QUEUE,
    "pipeline.webhook_deliver": INTERACTIVE_QUEUE,
    "pipeline.webhooks_sweep": INTERACTIVE_QUEUE,
    "coaching.daily_reminders": HEAVY_QUEUE,
    "coaching.record_milestones": INTERACTIVE_QUEUE,
    "coaching.send_due_digests": INTERACTIVE_QUEUE,
    "coaching.send_digest": INTERACTIVE_QUEUE,
    "salesmgr.purge_signin_throttles": INTERACTIVE_QUEUE,
    "salesmgr.purge_audit_events": HEAVY_QUEUE,
}


def _queue_of(name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def test_every_task_of_the_app_is_routed_to_the_queue_chosen_for_it():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == set(EXPECTED), "a new task must be given a queue in CELERY_TASK_ROUTES"
    assert set(settings.CELERY_TASK_ROUTES) == ours
    assert {name: _queue_of(name) for name in sorted(ours)} == EXPECTED


def test_a_worker_started_without_a_queue_option_consumes_both():
    assert set(app.amqp.queues) == {INTERACTIVE_QUEUE, HEAVY_QUEUE}
    assert app.conf.task_default_queue == INTERACTIVE_QUEUE


@pytest.fixture
def broker():
    """The Redis database Celery publishes to, its queues emptied before and after."""
    url = os.environ.get("REDIS_URL")
    if not url or app.conf.task_always_eager:
        if IN_CI:
            pytest.fail("CI must run with REDIS_URL set")
        pytest.skip("REDIS_URL is not set: tasks run in-process, nothing is queued")
    client = redis.Redis.from_url(url)
    client.delete(INTERACTIVE_QUEUE, HEAVY_QUEUE)
    yield client
    client.delete(INTERACTIVE_QUEUE, HEAVY_QUEUE)
    client.close()


def _queued(client: redis.Redis, queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(queue, 0, -1)]


@pytest.mark.django_db
def test_the_recompute_after_changes_is_interactive_and_the_nightly_pass_heavy(broker, manager):
    scopes_mark_dirty(keys={f"team={manager.pk}"})
    assert recompute_dirty_scopes() == 1
    assert _queued(broker, INTERACTIVE_QUEUE) == ["reports.snapshot_scopes"]
    assert _queued(broker, HEAVY_QUEUE) == []

    nightly_snapshots()
    assert _queued(broker, INTERACTIVE_QUEUE) == ["reports.snapshot_scopes"]
    assert sorted(_queued(broker, HEAVY_QUEUE)) == [
        "reports.mature_forecasts",
        "reports.snapshot_scopes",
    ]
