"""Celery runs tasks in-process by default and through Redis when REDIS_URL is set."""

import datetime
import os

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from pipeline.models import Deal
from pipeline.services import deal_delete
from pipeline.tasks import purge_deleted_deals
from salesmgr.celery import app
from tests.conftest import IN_CI
from tests.factories import DealFactory


def test_tasks_run_in_process_without_a_broker_setting():
    assert settings.CELERY_TASK_ALWAYS_EAGER is (not os.environ.get("REDIS_URL"))


def test_purge_task_removes_old_deleted_deals(rep, pipeline, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    deal = DealFactory(owner=rep, pipeline=pipeline)
    deal_delete(deal=deal, by=rep)
    Deal.objects.filter(pk=deal.pk).update(deleted_at=timezone.now() - datetime.timedelta(days=40))
    assert purge_deleted_deals.delay().get(timeout=10) == 1
    assert purge_deleted_deals.delay().get(timeout=10) == 0


def test_broker_is_reachable_when_configured():
    if not os.environ.get("REDIS_URL"):
        if IN_CI:
            pytest.fail("CI must run with REDIS_URL set")
        pytest.skip("REDIS_URL is not set")
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
        assert conn.connected


def test_beat_sweeps_the_stale_scopes_every_minute_and_drops_a_sweep_not_started_by_the_next(db):
    # What beat's database scheduler does with each standing job when it starts.
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        DatabaseScheduler.Entry.from_entry(name, app=app, **entry)
    sweep = PeriodicTask.objects.get(task="reports.recompute_dirty_scopes")
    assert sweep.enabled
    assert (sweep.interval.every, sweep.interval.period) == (60, "seconds")
    assert sweep.expire_seconds == 60
