"""Webhook signing secrets are sealed at rest (``salesmgr.sealing``): the table holds no secret in
the clear, a rotated ``SECRET_KEY`` still opens them through its fallbacks, ``reseal_secrets``
moves them to the new key, and a secret no key opens fails its deliveries with the reason, unsent.
"""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pipeline.models import WebhookDelivery, WebhookSubscription
from pipeline.webhooks.services import webhook_subscription_rotate_secret, webhook_test_send
from pipeline.webhooks.signing import signature_valid
from salesmgr.sealing import SealedSecretUnreadable, seal, unseal
from tests.pipeline.test_webhooks import deliver_all, subscribe

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_settings")]


OLD_KEY = "an-old-key-" + "x" * 40
NEW_KEY = "a-new-key-" + "y" * 40


def stored(subscription) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secret_sealed FROM {WebhookSubscription._meta.db_table} WHERE id = %s",
            [subscription.pk],
        )
        return cursor.fetchone()[0]


def test_the_table_holds_no_secret_in_the_clear(admin, receiver):
    subscription = subscribe(admin, receiver)
    secret = subscription.secret
    assert secret.startswith("whsec_")
    assert secret not in stored(subscription)
    assert WebhookSubscription.objects.get().secret == secret

    rotated = webhook_subscription_rotate_secret(subscription=subscription, by=admin)
    assert rotated.secret != secret
    assert rotated.secret not in stored(subscription)
    assert WebhookSubscription.objects.get().secret == rotated.secret


def test_deliveries_are_signed_with_the_opened_secret(admin, receiver):
    subscription = subscribe(admin, receiver)
    webhook_test_send(subscription=subscription, by=admin)
    deliver_all()
    request = receiver.requests[0]
    header = request["headers"]["X-Salesmgr-Signature"]
    now = int(header.split(",")[0][2:])
    assert signature_valid(secret=subscription.secret, header=header, body=request["body"], now=now)


def test_a_rotated_key_opens_through_its_fallback_and_reseal_moves_to_the_new_key(
    admin, receiver, settings
):
    settings.SECRET_KEY = OLD_KEY
    subscription = subscribe(admin, receiver)
    secret = subscription.secret
    before = stored(subscription)

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert WebhookSubscription.objects.get().secret == secret
    out = io.StringIO()
    call_command("reseal_secrets", stdout=out)
    assert "Resealed 1" in out.getvalue()
    assert stored(subscription) != before

    settings.SECRET_KEY_FALLBACKS = []
    assert WebhookSubscription.objects.get().secret == secret
    settings.SECRET_KEY = OLD_KEY
    with pytest.raises(SealedSecretUnreadable):
        WebhookSubscription.objects.get().secret  # noqa: B018


def test_a_secret_no_key_opens_fails_the_delivery_with_the_reason_and_sends_nothing(
    admin, receiver, settings
):
    settings.SECRET_KEY = OLD_KEY
    subscription = subscribe(admin, receiver)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, []
    webhook_test_send(subscription=subscription, by=admin)
    deliver_all()
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert "SECRET_KEY_FALLBACKS" in delivery.last_error

    err = io.StringIO()
    call_command("reseal_secrets", stdout=io.StringIO(), stderr=err)
    assert "Receiver" in err.getvalue()  # named, left as it was


def test_seal_is_not_the_clear_text_and_differs_each_time(settings):
    settings.SECRET_KEY = OLD_KEY
    first, second = seal("whsec_abc"), seal("whsec_abc")
    assert first != second and "whsec_abc" not in first
    assert unseal(first) == unseal(second) == "whsec_abc"


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_existing_secrets_and_unseals_them_back():
    before = [("pipeline", "0035_deal_board_stage_index")]
    after = [("pipeline", "0036_webhook_secret_sealed")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    row = old.get_model("pipeline", "WebhookSubscription").objects.create(
        name="Old hook", url="https://example.com/h", events=["deal.won"], secret="whsec_clear"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    sealed = stored(row)
    assert "whsec_clear" not in sealed and unseal(sealed) == "whsec_clear"

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    back = executor.loader.project_state(before).apps
    assert back.get_model("pipeline", "WebhookSubscription").objects.get().secret == "whsec_clear"

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
