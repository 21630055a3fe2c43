"""A write never fails because Redis is down, and the figures catch up once it is back.

Each test runs its own ``redis-server`` (the cache, the broker and the result
backend, as in production), kills it, and drives the API and the pages with
Redis gone: every write commits and answers 2xx, its scopes are marked stale
in the database, and a metrics refresh answers 503. Then Redis is started
again on the same port and the periodic sweep, run by a real worker, rewrites
the stale snapshots and clears their marks.
"""

import contextlib
import socket
import time
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.urls import reverse

from pipeline.models import Deal
from reports.models import DirtyScope, MetricSnapshot
from reports.tasks import RECOMPUTE_LOCK
from salesmgr.celery import app as celery_app
from tests.conftest import need_postgres
from tests.factories import PASSWORD, AccountFactory, DealFactory
from tests.redis_server import RedisServer, free_port, need_redis_server, start_worker, stop_worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

DEALS = "/api/v1/deals/"
# A dead Redis costs a refused connection and redis-py's own short retries, never Celery's long ones.
OUTAGE_ANSWER_SECONDS = 5
WAIT_SECONDS = 60


def _reset_celery_connections() -> None:
    """Drop the app's broker pools and result backend, so the next use connects to the configured URLs."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)


@contextlib.contextmanager
def _redis_at(settings, url: str):
    """The cache, the broker and the result backend all at ``url``, as ``REDIS_URL`` would set them."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": django_settings.REDIS_CACHE_OPTIONS,
        }
    }
    settings.REPORTS_RECOMPUTE_ON_CHANGE = True
    changed = {"broker_url": url, "result_backend": url, "task_always_eager": False}
    saved = {name: celery_app.conf[name] for name in changed}
    celery_app.conf.update(changed)
    _reset_celery_connections()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        _reset_celery_connections()


@pytest.fixture
def redis(transactional_db, settings, tmp_path):
    """A private Redis (up) serving the cache, the broker and the result backend; killed afterwards."""
    need_postgres()
    server = RedisServer(need_redis_server(), free_port(), tmp_path / "redis.log")
    server.start()
    try:
        with _redis_at(settings, server.url):
            yield server
    finally:
        server.stop()


@pytest.fixture
def silent_redis(transactional_db, settings):
    """A Redis address that never answers, like a host gone from the network.

    A socket that listens with no room in its queue and never accepts: once
    one connection waits in the queue, the next ones hang in connect().
    """
    need_postgres()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        with socket.create_connection(listener.getsockname()), _redis_at(settings, url):
            yield


@pytest.fixture
def deal(redis, rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("5000.00"), name="Acme renewal")


def _stale() -> set[str]:
    return set(DirtyScope.objects.values_list("scope_key", flat=True))


def _timed(request):
    started = time.monotonic()
    response = request()
    elapsed = time.monotonic() - started
    assert elapsed < OUTAGE_ANSWER_SECONDS, f"answered after {elapsed:.1f} s"
    return response


def _down(redis) -> None:
    """Stop Redis and forget every stale mark so far, so each test sees only what its requests marked."""
    redis.stop()
    DirtyScope.objects.all().delete()


def test_a_patch_commits_answers_and_marks_stale_while_redis_is_down(redis, deal, rep, client_for):
    _down(redis)
    response = _timed(
        lambda: client_for(rep).patch(
            f"{DEALS}{deal.pk}/", {"amount": "7000.00"}, HTTP_IF_MATCH=f'"{deal.pk}.1"'
        )
    )
    assert response.status_code == 200, response.content
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("7000.00"), 2)
    assert {"org", f"owner={rep.pk}", f"pipeline={deal.pipeline_id}"} <= _stale()


def test_a_move_commits_answers_and_marks_stale_while_redis_is_down(
    redis, deal, rep, stages, client_for
):
    _down(redis)
    response = _timed(
        lambda: client_for(rep).post(
            f"{DEALS}{deal.pk}/move/", {"stage": stages["Discovery"].pk, "version": 1}
        )
    )
    assert response.status_code == 200, response.content
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages["Discovery"].pk, 2)
    assert f"owner={rep.pk}" in _stale()


def test_a_retried_create_with_its_key_creates_once_while_redis_is_down(
    redis, rep, pipeline, client_for
):
    account = AccountFactory(owner=rep)
    _down(redis)
    client = client_for(rep)
    body = {
        "name": "New one",
        "account": account.pk,
        "pipeline": pipeline.pk,
        "amount": "1200.50",
        "expected_close_date": "2030-01-31",
    }
    first = _timed(lambda: client.post(DEALS, body, format="json", HTTP_IDEMPOTENCY_KEY="create-1"))
    assert first.status_code == 201, first.content
    retry = _timed(lambda: client.post(DEALS, body, format="json", HTTP_IDEMPOTENCY_KEY="create-1"))
    assert retry.status_code == 201, retry.content
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert Deal.objects.filter(name="New one").count() == 1
    assert f"owner={rep.pk}" in _stale()


def test_a_bulk_request_commits_answers_and_marks_stale_while_redis_is_down(
    redis, rep, pipeline, stages, client_for
):
    account = AccountFactory(owner=rep)
    _down(redis)
    rows = [
        {
            "name": f"Imported {n}",
            "account": account.pk,
            "pipeline": pipeline.pk,
            "stage": stages["Qualification"].pk,
            "amount": "1000.00",
            "expected_close_date": "2031-03-31",
            "external_id": f"x-{n}",
        }
        for n in range(3)
    ]
    response = _timed(lambda: client_for(rep).post(f"{DEALS}bulk/", {"deals": rows}, format="json"))
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 3
    assert Deal.objects.filter(name__startswith="Imported").count() == 3
    assert f"owner={rep.pk}" in _stale()


def test_a_board_move_commits_answers_and_marks_stale_while_redis_is_down(
    redis, deal, rep, stages, client
):
    client.force_login(rep)
    _down(redis)
    response = _timed(
        lambda: client.post(
            reverse("deal-move", args=[deal.pk]),
            {"stage": stages["Discovery"].pk, "version": 1},
            HTTP_ACCEPT="application/json",
        )
    )
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages["Discovery"].pk, 2)
    assert f"owner={rep.pk}" in _stale()


def test_the_dashboard_renders_from_the_database_while_redis_is_down(redis, deal, manager, client):
    client.force_login(manager)
    _down(redis)
    response = _timed(lambda: client.get(reverse("dashboard")))
    assert response.status_code == 200
    assert "Open deals" in response.content.decode()
    kpis = _timed(
        lambda: client.get(reverse("dashboard"), {"fragment": "kpis"}, HTTP_HX_REQUEST="true")
    )
    assert kpis.status_code == 200


def test_sign_in_works_and_stays_throttled_while_redis_is_down(redis, rep, client_for, settings):
    """The failed sign-in count lives in the database, so an outage neither blocks nor unthrottles sign-in."""
    settings.SIGNIN_FAILURES_PER_ACCOUNT = 7
    _down(redis)
    client = client_for()
    right = _timed(
        lambda: client.post("/api/v1/auth/token/", {"username": "rep", "password": PASSWORD})
    )
    assert right.status_code == 200, right.content
    assert right.json()["token"]
    for _ in range(7):
        wrong = _timed(
            lambda: client.post("/api/v1/auth/token/", {"username": "rep", "password": "nope"})
        )
        assert wrong.status_code == 400, wrong.content
    locked = _timed(
        lambda: client.post("/api/v1/auth/token/", {"username": "rep", "password": PASSWORD})
    )
    assert locked.status_code == 429, locked.content


def test_a_metrics_refresh_answers_503_while_redis_is_down(redis, rep, manager, client_for, client):
    _down(redis)
    response = _timed(lambda: client_for(rep).post("/api/v1/metrics/refresh/", {}, format="json"))
    assert response.status_code == 503, response.content
    assert "try again" in response.json()["detail"].lower()
    assert response["Retry-After"] == "60"
    client.force_login(manager)
    page = _timed(lambda: client.post(reverse("dashboard-refresh"), follow=True))
    assert page.status_code == 200
    assert "cannot be recomputed" in page.content.decode()
    fragment = _timed(lambda: client.post(reverse("dashboard-refresh"), HTTP_HX_REQUEST="true"))
    assert fragment.status_code == 200
    assert 'data-refresh-state="UNAVAILABLE"' in fragment.content.decode()


def test_polling_a_refresh_answers_503_not_404_while_redis_is_down(
    redis, manager, client_for, client
):
    api = client_for(manager)
    queued = api.post("/api/v1/metrics/refresh/", {}, format="json")
    assert queued.status_code == 202, queued.content
    task_id = queued.json()["task_id"]
    assert api.get(queued.json()["status_url"]).json()["state"] == "PENDING"
    _down(redis)
    polled = _timed(lambda: api.get(queued.json()["status_url"]))
    assert polled.status_code == 503, polled.content
    client.force_login(manager)
    page = _timed(
        lambda: client.get(
            reverse("dashboard-refresh-status", args=[task_id]), HTTP_HX_REQUEST="true"
        )
    )
    assert page.status_code == 200
    assert 'data-refresh-state="UNAVAILABLE"' in page.content.decode()


def test_a_write_answers_when_only_the_broker_is_down(redis, deal, rep, client_for, caplog):
    celery_app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    _reset_celery_connections()
    DirtyScope.objects.all().delete()
    cache.delete(RECOMPUTE_LOCK)  # taken when the deal was created
    response = _timed(
        lambda: client_for(rep).patch(
            f"{DEALS}{deal.pk}/", {"amount": "7000.00"}, HTTP_IF_MATCH=f'"{deal.pk}.1"'
        )
    )
    assert response.status_code == 200, response.content
    assert f"owner={rep.pk}" in _stale()
    assert "task queue unavailable (reports.recompute_dirty_scopes)" in caplog.text
    refresh = _timed(lambda: client_for(rep).post("/api/v1/metrics/refresh/", {}, format="json"))
    assert refresh.status_code == 503, refresh.content
    assert "task queue unavailable (reports.snapshot_scope)" in caplog.text


def test_a_redis_that_never_answers_holds_a_write_for_seconds_not_minutes(
    silent_redis, rep, pipeline, client_for
):
    deal = DealFactory(owner=rep, pipeline=pipeline)
    response = _timed(
        lambda: client_for(rep).patch(
            f"{DEALS}{deal.pk}/", {"amount": "7000.00"}, HTTP_IF_MATCH=f'"{deal.pk}.1"'
        )
    )
    assert response.status_code == 200, response.content
    assert f"owner={rep.pk}" in _stale()
    refresh = _timed(lambda: client_for(rep).post("/api/v1/metrics/refresh/", {}, format="json"))
    assert refresh.status_code == 503, refresh.content


def test_the_sweep_recomputes_what_went_stale_once_redis_is_back(
    redis, deal, rep, client_for, tmp_path
):
    _down(redis)
    response = client_for(rep).patch(
        f"{DEALS}{deal.pk}/", {"amount": "7000.00"}, HTTP_IF_MATCH=f'"{deal.pk}.1"'
    )
    assert response.status_code == 200, response.content
    key = f"owner={rep.pk}"
    assert key in _stale()
    assert not MetricSnapshot.objects.filter(scope_key=key).exists()

    redis.start()
    log = tmp_path / "worker.log"
    worker = start_worker(redis_url=redis.url, log=log)
    try:
        celery_app.send_task("reports.recompute_dirty_scopes", ignore_result=True)
        deadline = time.monotonic() + WAIT_SECONDS
        while _stale() and time.monotonic() < deadline:
            assert worker.poll() is None, (
                f"the worker exited with {worker.returncode}:\n{log.read_text()}"
            )
            time.sleep(0.5)
    finally:
        stop_worker(worker)
    assert not _stale(), f"still stale after {WAIT_SECONDS} s; worker log:\n{log.read_text()}"
    snapshot = MetricSnapshot.objects.get(scope_key=key)
    assert snapshot.data["open_deals"] == 1
    assert Decimal(snapshot.data["open_value"]) == Decimal("7000.00")


def test_after_one_failed_publish_the_process_does_not_wait_on_the_broker_again(
    silent_redis, rep, pipeline, client_for, caplog
):
    """One write rings several doorbells (metrics, milestones): a dead broker costs it one wait,
    not one per bell; the others are skipped at once (their periodic sweeps catch up)."""
    from salesmgr import queue

    deal = DealFactory(owner=rep, pipeline=pipeline)
    response = _timed(
        lambda: client_for(rep).patch(
            f"{DEALS}{deal.pk}/", {"amount": "7000.00"}, HTTP_IF_MATCH=f'"{deal.pk}.1"'
        )
    )
    assert response.status_code == 200, response.content
    assert queue._broker_down_until > time.monotonic()
    assert "it failed moments ago, not tried" in caplog.text
