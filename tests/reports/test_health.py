"""The health endpoints: /healthz says the process answers; /readyz checks the database, Redis,
a worker, beat and the snapshots' age, and is a 503 when a request could not be served."""

import datetime

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from reports.models import MetricSnapshot
from tests.conftest import IN_CI


def test_healthz_answers_without_touching_the_database(client, db):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert len(queries) == 0


def test_readyz_reports_each_part(client, db):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["snapshots"] == {
        "ok": True,
        "oldest_latest_computed_at": None,
        "age_seconds": None,
        "ms": body["checks"]["snapshots"]["ms"],
    }


def test_readyz_gives_the_age_of_the_stalest_scopes_newest_snapshot(client, db):
    now = timezone.now()
    rows = (("org", "org", 1), ("org", "org", 30), ("team:1", "team", 5), ("team:1", "team", 50))
    for month, (key, kind, hours) in enumerate(rows, start=1):
        MetricSnapshot.objects.create(
            scope_key=key,
            scope_kind=kind,
            period_start=datetime.date(2026, month, 1),
            period_end=datetime.date(2026, month, 28),
            computed_at=now - datetime.timedelta(hours=hours),
            data={},
        )
    age = client.get("/readyz").json()["checks"]["snapshots"]["age_seconds"]
    assert 5 * 3600 - 5 <= age <= 5 * 3600 + 60


def test_readyz_says_when_beat_last_ran(client, db):
    schedule = CrontabSchedule.objects.create(minute="0", hour="1")
    ran = timezone.now() - datetime.timedelta(minutes=10)
    PeriodicTask.objects.create(
        name="x", task="reports.nightly_snapshots", crontab=schedule, last_run_at=ran
    )
    beat = client.get("/readyz").json()["checks"]["beat"]
    assert 590 <= beat["seconds_since"] <= 700


def test_readyz_is_a_503_when_the_database_cannot_be_reached(client, db, monkeypatch):
    from reports import health

    def broken():
        raise ConnectionError("connection refused")

    monkeypatch.setattr(health, "_database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {
        "ok": False,
        "error": "ConnectionError: connection refused",
        "ms": body["checks"]["database"]["ms"],
    }


@pytest.mark.skipif(not settings.REDIS_URL and not IN_CI, reason="needs Redis")
def test_readyz_checks_redis_when_it_is_configured(client, db):
    assert settings.REDIS_URL, "CI runs with Redis"
    checks = client.get("/readyz").json()["checks"]
    assert checks["redis"]["ok"] is True
    assert "worker" in checks
