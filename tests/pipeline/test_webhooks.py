"""Outbound webhooks, sent to a real HTTP receiver on loopback.

The receiver (``tests/pipeline/conftest.py``) is ``http.server`` on 127.0.0.1 at a free port, in a thread; each
test scripts its answers (a status, a redirect, or no answer at all). Most
tests run the deliveries in this process through the same services the Celery
task calls; the last one runs them through a real worker.
"""

import datetime
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pipeline.models import (
    DeliveryStatus,
    StageKind,
    WebhookDelivery,
    WebhookSubscription,
)
from pipeline.services import account_create, activity_log, deal_create, deal_move, deal_update
from pipeline.webhooks import transport
from pipeline.webhooks.models import OPEN_STATUSES
from pipeline.webhooks.services import (
    webhook_delivery_attempt,
    webhook_subscription_create,
    webhooks_sweep,
)
from pipeline.webhooks.signing import signature_valid
from salesmgr.celery import app as celery_app
from tests.conftest import IN_CI, need_postgres
from tests.factories import AccountFactory
from tests.redis_server import start_worker, stop_worker

API = "/api/v1/webhooks/"
DELIVERIES = "/api/v1/webhooks/deliveries/"
CLOSE = datetime.date(2030, 6, 30)
ALL_DEAL_EVENTS = [
    "deal.created",
    "deal.updated",
    "deal.moved",
    "deal.won",
    "deal.lost",
    "deal.deleted",
    "activity.logged",
]


@pytest.fixture(autouse=True)
def _webhook_settings(webhook_settings):
    return webhook_settings


def _ignore(*args):
    pass


def deliver_all(seconds: float = 15) -> None:
    """Send everything due, as the sweep and the task would, until nothing is left to send."""

    def attempt(pk, attempts, countdown):
        webhook_delivery_attempt(delivery_id=pk, attempts=attempts, publish=_ignore)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        open_deliveries = WebhookDelivery.objects.filter(
            status__in=OPEN_STATUSES, subscription__is_active=True
        )
        if not open_deliveries.exists():
            return
        webhooks_sweep(publish=attempt)
        time.sleep(0.005)
    pytest.fail("deliveries still open after the deadline")


def subscribe(admin, receiver, events=ALL_DEAL_EVENTS) -> WebhookSubscription:
    return webhook_subscription_create(by=admin, name="Receiver", url=receiver.url, events=events)


@pytest.fixture
def account(rep):
    return AccountFactory(owner=rep, name="Acme")


def new_deal(rep, account, pipeline, name="Big one"):
    return deal_create(
        by=rep,
        name=name,
        account=account,
        pipeline=pipeline,
        expected_close_date=CLOSE,
        amount=Decimal("1000.00"),
    )


# Signatures and payloads


def test_deal_events_are_signed_and_carry_the_api_representation(
    admin, rep, account, pipeline, stages, receiver, client_for
):
    client = client_for(admin)
    answer = client.post(API, {"name": "CRM sync", "url": receiver.url, "events": ALL_DEAL_EVENTS})
    assert answer.status_code == 201, answer.content
    secret = answer.json()["secret"]
    created = client_for(rep).post(
        "/api/v1/deals/",
        {
            "name": "Big one",
            "account": account.pk,
            "pipeline": pipeline.pk,
            "expected_close_date": "2030-06-30",
            "amount": "1000.00",
        },
    )
    assert created.status_code == 201, created.content
    deal_id = created.json()["id"]
    moved = client_for(rep).post(
        f"/api/v1/deals/{deal_id}/move/", {"stage": stages["Won"].pk, "version": 1}
    )
    assert moved.status_code == 200, moved.content

    deliver_all()

    assert receiver.events() == ["deal.created", "deal.moved", "deal.won"]
    now = int(time.time())
    for request in receiver.requests:
        header = request["headers"]["X-Salesmgr-Signature"]
        assert signature_valid(secret=secret, header=header, body=request["body"], now=now)
        assert not signature_valid(
            secret="whsec_wrong", header=header, body=request["body"], now=now
        )
        assert not signature_valid(
            secret=secret, header=header, body=request["body"] + b" ", now=now
        )
        assert request["headers"]["Content-Type"] == "application/json"
        assert request["headers"]["X-Salesmgr-Event"] == request["json"]["event"]
    assert receiver.requests[0]["json"]["data"] == created.json()
    current = client_for(admin).get(f"/api/v1/deals/{deal_id}/").json()
    assert receiver.requests[2]["json"]["data"] == current
    assert moved.json() == current
    log = WebhookDelivery.objects.order_by("pk")
    assert [(d.status, d.attempts, d.response_code) for d in log] == [("delivered", 1, 200)] * 3


def test_a_signature_older_than_the_tolerance_is_refused():
    from pipeline.webhooks.signing import signature_header

    header = signature_header(secret="s", timestamp=1_000, body=b"{}")
    assert signature_valid(secret="s", header=header, body=b"{}", now=1_100)
    assert not signature_valid(secret="s", header=header, body=b"{}", now=1_000 + 301)
    assert not signature_valid(secret="s", header="garbage", body=b"{}", now=1_000)


def test_activity_and_account_events_carry_their_api_representation(
    admin, rep, account, pipeline, receiver, client_for
):
    subscribe(admin, receiver, events=["activity.logged", "account.created"])
    deal = new_deal(rep, account, pipeline)
    logged = client_for(rep).post(
        "/api/v1/activities/", {"kind": "call", "subject": "Intro call", "deal": deal.pk}
    )
    assert logged.status_code == 201, logged.content
    opened = client_for(rep).post("/api/v1/accounts/", {"name": "Globex"})
    assert opened.status_code == 201, opened.content

    deliver_all()

    assert receiver.events() == ["activity.logged", "account.created"]
    assert receiver.requests[0]["json"]["data"] == logged.json()
    assert receiver.requests[1]["json"]["data"] == opened.json()


def test_an_update_and_a_loss_send_their_own_events(
    admin, rep, account, pipeline, stages, receiver
):
    subscribe(admin, receiver)
    deal = new_deal(rep, account, pipeline)
    deal = deal_update(deal=deal, by=rep, expected_version=1, amount=Decimal("1500.00"))
    deal_update(deal=deal, by=rep, expected_version=2, amount=Decimal("1500.00"))  # no change
    from tests.factories import LostReasonFactory

    reason = LostReasonFactory()
    deal_move(deal=deal, to_stage=stages["Lost"], by=rep, expected_version=2, lost_reason=reason)

    deliver_all()

    assert receiver.events() == ["deal.created", "deal.updated", "deal.moved", "deal.lost"]
    assert receiver.requests[1]["json"]["data"]["amount"] == "1500.00"
    assert receiver.requests[3]["json"]["data"]["status"] == StageKind.LOST


def test_bulk_writes_send_the_events_of_each_deal(
    admin, rep, account, pipeline, stages, receiver, client_for
):
    subscribe(admin, receiver)
    client = client_for(rep)

    def row(stage, **extra):
        return {
            "name": "Imported",
            "account": account.pk,
            "pipeline": pipeline.pk,
            "stage": stages[stage].pk,
            "amount": "1000.00",
            "expected_close_date": "2031-03-31",
            **extra,
        }

    first = client.post(
        "/api/v1/deals/bulk/",
        {"deals": [row("Qualification", external_id="a"), row("Qualification", external_id="b")]},
    )
    assert first.status_code == 200, first.content
    again = client.post(
        "/api/v1/deals/bulk/",
        {
            "deals": [
                row("Won", external_id="a", amount="1200.00"),
                row("Qualification", external_id="b"),  # unchanged: no event
            ]
        },
    )
    assert again.status_code == 200, again.content

    deliver_all()

    a, b = first.json()["ids"]
    sent = [(r["json"]["event"], r["json"]["data"]["id"]) for r in receiver.requests]
    assert sent == [
        ("deal.created", a),
        ("deal.created", b),
        ("deal.updated", a),
        ("deal.moved", a),
        ("deal.won", a),
    ]
    assert (
        receiver.requests[-1]["json"]["data"] == client_for(admin).get(f"/api/v1/deals/{a}/").json()
    )


def test_the_readme_verification_snippet_accepts_a_real_delivery(admin, receiver):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = readme.split("**Verifying a delivery.**", 1)[1]
    snippet = after.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own README's code
    check = namespace["salesmgr_signature_ok"]
    subscription = subscribe(admin, receiver)
    from pipeline.webhooks.services import webhook_test_send

    webhook_test_send(subscription=subscription, by=admin)
    deliver_all()
    request = receiver.requests[0]
    header = request["headers"]["X-Salesmgr-Signature"]
    assert check(subscription.secret, header, request["body"])
    assert not check(subscription.secret, header, request["body"].replace(b"ping", b"pong"))
    assert not check("whsec_other", header, request["body"])


# The outbox


def test_the_events_are_written_with_the_change_and_roll_back_with_it(
    admin, rep, account, pipeline, receiver
):
    subscribe(admin, receiver)
    with pytest.raises(RuntimeError), transaction.atomic():
        new_deal(rep, account, pipeline)
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("the change fails after the event was recorded")
    assert WebhookDelivery.objects.count() == 0
    new_deal(rep, account, pipeline)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert receiver.requests == []  # nothing is sent before the sweep or the task runs


def test_nothing_is_recorded_without_a_subscription_or_for_an_event_not_asked_for(
    admin, rep, account, pipeline, receiver
):
    new_deal(rep, account, pipeline)
    subscribe(admin, receiver, events=["deal.won"])
    new_deal(rep, account, pipeline)
    assert WebhookDelivery.objects.count() == 0


def test_after_commit_the_delivery_runs_in_process_without_a_broker(
    admin, rep, account, pipeline, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    subscribe(admin, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        deal = new_deal(rep, account, pipeline)
    assert receiver.events() == ["deal.created"]
    assert receiver.requests[0]["json"]["data"]["id"] == deal.pk
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED


# Retries, order, disabling, timeouts


def test_a_500_is_retried_with_exponential_backoff(
    admin, rep, account, pipeline, receiver, webhook_settings
):
    webhook_settings.WEBHOOKS_BACKOFF_BASE_MS = 150
    webhook_settings.WEBHOOKS_MAX_ATTEMPTS = 4
    receiver.answers = [500, 503, 200]
    subscribe(admin, receiver)
    new_deal(rep, account, pipeline)

    deliver_all()

    times = [r["at"] for r in receiver.requests]
    assert len(times) == 3
    assert len({r["json"]["id"] for r in receiver.requests}) == 1  # one event, sent three times
    first_wait, second_wait = times[1] - times[0], times[2] - times[1]
    assert 0.15 <= first_wait < 0.15 * 1.25 + 0.25
    assert 0.30 <= second_wait < 0.30 * 1.25 + 0.25
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 3, 200)
    assert [a["response_code"] for a in delivery.attempt_log] == [500, 503, 200]
    assert delivery.subscription.consecutive_failures == 0


def test_a_later_event_of_a_deal_waits_for_the_earlier_while_other_deals_go_on(
    admin, rep, account, pipeline, stages, receiver, webhook_settings
):
    webhook_settings.WEBHOOKS_BACKOFF_BASE_MS = 300
    receiver.answers = [500]  # the first deal's creation fails once
    subscribe(admin, receiver)
    first = new_deal(rep, account, pipeline, name="First")
    deal_move(deal=first, to_stage=stages["Discovery"], by=rep, expected_version=1)
    second = new_deal(rep, account, pipeline, name="Second")

    deliver_all()

    sent = [(r["json"]["event"], r["json"]["data"]["name"]) for r in receiver.requests]
    assert sent == [
        ("deal.created", "First"),  # 500: retried after the back-off
        ("deal.created", "Second"),  # another deal is not held up
        ("deal.created", "First"),
        ("deal.moved", "First"),  # only once the creation is delivered
    ]
    assert second.pk != first.pk


def test_an_event_given_up_on_lets_the_next_one_of_its_deal_go(
    admin, rep, account, pipeline, receiver, webhook_settings
):
    webhook_settings.WEBHOOKS_MAX_ATTEMPTS = 2
    receiver.answers = [500, 500]
    subscribe(admin, receiver)
    deal = new_deal(rep, account, pipeline)
    deal_update(deal=deal, by=rep, expected_version=1, name="Renamed")

    deliver_all()

    assert receiver.events() == ["deal.created", "deal.created", "deal.updated"]
    log = WebhookDelivery.objects.order_by("pk")
    assert [(d.event, d.status, d.attempts) for d in log] == [
        ("deal.created", "failed", 2),
        ("deal.updated", "delivered", 1),
    ]
    assert WebhookSubscription.objects.get().consecutive_failures == 0


def test_repeated_failures_disable_the_subscription_and_say_why(
    admin, rep, receiver, webhook_settings, client_for
):
    webhook_settings.WEBHOOKS_MAX_ATTEMPTS = 2
    webhook_settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    receiver.answers = [500] * 10
    subscription = subscribe(admin, receiver, events=["account.created"])
    account_create(by=rep, name="One")
    account_create(by=rep, name="Two")

    deliver_all()

    subscription.refresh_from_db()
    assert not subscription.is_active
    assert subscription.consecutive_failures == 2
    assert "after 2 deliveries in a row failed" in subscription.disabled_reason
    assert "HTTP 500" in subscription.disabled_reason
    assert len(receiver.requests) == 4
    account_create(by=rep, name="Three")
    assert WebhookDelivery.objects.count() == 2  # a disabled subscription gets no new events
    shown = client_for(admin).get(f"{API}{subscription.pk}/").json()
    assert shown["is_active"] is False
    assert shown["disabled_reason"] == subscription.disabled_reason

    enabled = client_for(admin).patch(f"{API}{subscription.pk}/", {"is_active": True})
    assert enabled.status_code == 200, enabled.content
    assert enabled.json()["consecutive_failures"] == 0
    assert enabled.json()["disabled_reason"] == ""


def test_a_receiver_that_never_answers_times_out_and_is_retried(
    admin, rep, account, pipeline, receiver, webhook_settings
):
    webhook_settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    receiver.answers = ["hang"]
    subscribe(admin, receiver)
    deal = new_deal(rep, account, pipeline)
    delivery = WebhookDelivery.objects.get()

    started = time.monotonic()
    result = webhook_delivery_attempt(delivery_id=delivery.pk, publish=_ignore)
    took = time.monotonic() - started

    assert result == "retry"
    assert 0.5 <= took < 2
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert delivery.response_code is None
    assert delivery.last_error == "No answer within 0.5 s."
    deliver_all()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [r["json"]["data"]["id"] for r in receiver.requests] == [deal.pk, deal.pk]


def test_a_redirect_is_not_followed(admin, rep, account, pipeline, receiver, webhook_settings):
    webhook_settings.WEBHOOKS_MAX_ATTEMPTS = 1
    receiver.answers = [("redirect", "/elsewhere")]
    subscribe(admin, receiver)
    new_deal(rep, account, pipeline)

    deliver_all()

    assert [r["path"] for r in receiver.requests] == ["/hooks"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_code) == ("failed", 302)


def test_private_and_loopback_targets_are_refused_unless_allowed(
    admin, receiver, webhook_settings, client_for
):
    webhook_settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    client = client_for(admin)
    for url in (receiver.url, "http://localhost:9/x", "http://10.1.2.3/x", "http://[::1]/x"):
        answer = client.post(API, {"name": "x", "url": url, "events": ["deal.won"]})
        assert answer.status_code == 400, url
        assert "url" in answer.json()
    for url in ("ftp://example.com/x", "http://user:pw@example.com/x", "not a url"):
        answer = client.post(API, {"name": "x", "url": url, "events": ["deal.won"]})
        assert answer.status_code == 400, url
        assert "url" in answer.json()
    # A name that resolves to loopback passes the URL check, and is refused on connecting.
    port = receiver.server.server_address[1]
    outcome = transport.post(
        url=f"http://127.1:{port}/hooks", body=b"{}", headers={}, timeout=2, allow_private=False
    )
    assert outcome.response_code is None
    assert "private or loopback" in outcome.error
    assert receiver.requests == []


# The API


def test_the_secret_is_shown_on_creation_and_rotation_only(admin, receiver, client_for):
    client = client_for(admin)
    created = client.post(API, {"name": "CRM", "url": receiver.url, "events": ["deal.won"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    listed = client.get(API).json()
    assert listed["count"] == 1
    assert "secret" not in listed["results"][0]
    assert "secret" not in client.get(f"{API}{body['id']}/").json()
    rotated = client.post(f"{API}{body['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in ("", body["secret"])
    assert WebhookSubscription.objects.get().secret == rotated.json()["secret"]


def test_bad_input_names_the_field(admin, receiver, client_for):
    client = client_for(admin)
    cases = [
        ({"name": "", "url": receiver.url, "events": ["deal.won"]}, "name"),
        ({"name": "x", "url": receiver.url, "events": []}, "events"),
        ({"name": "x", "url": receiver.url, "events": ["deal.exploded"]}, "events"),
        ({"name": "x", "url": receiver.url, "events": "deal.won"}, "events"),
        ({"name": "x", "url": 5, "events": ["deal.won"]}, "url"),
    ]
    for payload, field in cases:
        answer = client.post(API, payload)
        assert answer.status_code == 400, payload
        assert field in answer.json(), answer.json()
    assert WebhookSubscription.objects.count() == 0


def test_send_test_event_and_redeliver(admin, receiver, client_for):
    client = client_for(admin)
    created = client.post(API, {"name": "CRM", "url": receiver.url, "events": ["deal.won"]})
    secret, pk = created.json()["secret"], created.json()["id"]
    tested = client.post(f"{API}{pk}/test/")
    assert tested.status_code == 202, tested.content
    assert tested.json()["event"] == "ping"
    assert tested.json()["status"] == "pending"

    deliver_all()

    assert receiver.events() == ["ping"]
    first = receiver.requests[0]
    assert signature_valid(
        secret=secret,
        header=first["headers"]["X-Salesmgr-Signature"],
        body=first["body"],
        now=int(time.time()),
    )
    log = client.get(DELIVERIES, {"subscription": pk}).json()
    assert [
        (d["event"], d["status"], d["attempts"], d["response_code"]) for d in log["results"]
    ] == [("ping", "delivered", 1, 200)]
    detail = client.get(f"{DELIVERIES}{tested.json()['id']}/").json()
    assert detail["payload"] == first["json"]
    assert [a["response_code"] for a in detail["attempt_log"]] == [200]

    again = client.post(f"{DELIVERIES}{tested.json()['id']}/redeliver/")
    assert again.status_code == 202, again.content
    assert again.json()["redelivery_of"] == tested.json()["id"]
    deliver_all()
    assert receiver.requests[1]["body"] == first["body"]  # the same event, same id
    assert (
        receiver.requests[1]["headers"]["X-Salesmgr-Delivery"]
        != first["headers"]["X-Salesmgr-Delivery"]
    )
    pending = WebhookDelivery.objects.create(
        subscription_id=pk, event="ping", body="{}", status=DeliveryStatus.PENDING
    )
    refused = client.post(f"{DELIVERIES}{pending.pk}/redeliver/")
    assert refused.status_code == 400
    assert "status" in refused.json()


def test_delete_removes_the_subscription_and_its_log(admin, receiver, client_for):
    subscription = subscribe(admin, receiver)
    client_for(admin).post(f"{API}{subscription.pk}/test/")
    assert client_for(admin).delete(f"{API}{subscription.pk}/").status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("who", ["manager", "other_manager", "rep", "rep2", "outsider"])
def test_only_admins_reach_webhooks(who, request, admin, receiver, client_for):
    subscription = subscribe(admin, receiver)
    client_for(admin).post(f"{API}{subscription.pk}/test/")
    delivery = WebhookDelivery.objects.get()
    client = client_for(request.getfixturevalue(who))
    attempts = [
        client.get(API),
        client.get(f"{API}{subscription.pk}/"),
        client.post(API, {"name": "x", "url": receiver.url, "events": ["deal.won"]}),
        client.patch(f"{API}{subscription.pk}/", {"name": "mine"}),
        client.delete(f"{API}{subscription.pk}/"),
        client.post(f"{API}{subscription.pk}/rotate-secret/"),
        client.post(f"{API}{subscription.pk}/test/"),
        client.get(DELIVERIES),
        client.get(f"{DELIVERIES}{delivery.pk}/"),
        client.post(f"{DELIVERIES}{delivery.pk}/redeliver/"),
    ]
    assert [a.status_code for a in attempts] == [403] * len(attempts)
    assert all("secret" not in a.content.decode() for a in attempts)
    subscription.refresh_from_db()
    assert subscription.name == "Receiver"
    assert WebhookDelivery.objects.count() == 1
    assert client_for(None).get(API).status_code == 401


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url, {"page_size": 200})
    assert answer.status_code == 200
    return len(queries)


def test_the_lists_run_a_fixed_number_of_queries(admin, receiver, client_for):
    client = client_for(admin)
    counts = []
    for total in (2, 30):
        while WebhookSubscription.objects.count() < total:
            subscription = subscribe(admin, receiver)
            client.post(f"{API}{subscription.pk}/test/")
        counts.append((_queries(client, API), _queries(client, DELIVERIES)))
    assert counts[0] == counts[1] == (2, 2)  # count, then the page (the user is forced in)


def test_the_admin_lists_subscriptions_and_the_delivery_log(admin, receiver, client):
    subscription = subscribe(admin, receiver)
    deliver_all()
    client.force_login(admin)
    from pipeline.webhooks.services import webhook_test_send

    webhook_test_send(subscription=subscription, by=admin)
    page = client.get("/admin/pipeline/webhooksubscription/")
    assert page.status_code == 200
    assert subscription.secret not in page.content.decode()
    log = client.get("/admin/pipeline/webhookdelivery/")
    assert log.status_code == 200
    assert "ping" in log.content.decode()
    delivery = WebhookDelivery.objects.get()
    assert client.get(f"/admin/pipeline/webhookdelivery/{delivery.pk}/change/").status_code == 200


def test_the_admin_creates_a_subscription_and_shows_its_secret_once(admin, receiver, client):
    client.force_login(admin)
    answer = client.post(
        "/admin/pipeline/webhooksubscription/add/",
        {"name": "Admin made", "url": receiver.url, "events": ["deal.won", "deal.lost"]},
        follow=True,
    )
    assert answer.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.events == ["deal.won", "deal.lost"]
    assert subscription.created_by == admin
    assert subscription.secret in answer.content.decode()
    change = client.get(f"/admin/pipeline/webhooksubscription/{subscription.pk}/change/")
    assert subscription.secret not in change.content.decode()
    refused = client.post(
        "/admin/pipeline/webhooksubscription/add/",
        {"name": "Bad", "url": "gopher://x", "events": ["deal.won"]},
    )
    assert refused.status_code == 200
    assert "Use an http:// or https:// URL." in refused.content.decode()
    assert WebhookSubscription.objects.count() == 1


def test_non_admins_are_kept_out_of_the_webhook_admin(rep, manager, client):
    for user in (rep, manager):
        client.force_login(user)
        for page in ("webhooksubscription", "webhookdelivery"):
            answer = client.get(f"/admin/pipeline/{page}/")
            assert answer.status_code in (302, 403), (user, page)


# A real worker


def need_redis() -> None:
    if not os.environ.get("REDIS_URL"):
        message = "this test needs Redis (set REDIS_URL=redis://...)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_real_worker_delivers_retries_and_keeps_order(
    transactional_db, admin, rep, pipeline, stages, receiver, monkeypatch, tmp_path
):
    need_postgres()
    need_redis()
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setenv("WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
    monkeypatch.setenv("WEBHOOKS_BACKOFF_BASE_MS", "300")
    monkeypatch.setenv("WEBHOOKS_MAX_ATTEMPTS", "4")
    log = tmp_path / "worker.log"
    worker = start_worker(redis_url=os.environ["REDIS_URL"], log=log)
    try:
        receiver.answers = [500]
        subscription = subscribe(admin, receiver)
        account = AccountFactory(owner=rep)
        deal = new_deal(rep, account, pipeline)
        deal_move(deal=deal, to_stage=stages["Won"], by=rep, expected_version=1)
        activity_log(by=rep, kind="note", subject="Signed", deal=deal)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert worker.poll() is None, f"the worker exited:\n{log.read_text()}"
            done = WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count()
            if done == 4:
                break
            time.sleep(0.2)
    finally:
        stop_worker(worker)
    assert receiver.events() == [
        "deal.created",
        "deal.created",
        "deal.moved",
        "deal.won",
        "activity.logged",
    ], log.read_text()
    assert receiver.requests[1]["at"] - receiver.requests[0]["at"] >= 0.3
    for request in receiver.requests:
        assert signature_valid(
            secret=subscription.secret,
            header=request["headers"]["X-Salesmgr-Signature"],
            body=request["body"],
            now=int(time.time()),
        )
    created = WebhookDelivery.objects.get(event="deal.created")
    assert (created.attempts, created.response_code) == (2, 200)
