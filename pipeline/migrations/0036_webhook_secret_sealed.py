"""Webhook signing secrets sealed at rest (``salesmgr.sealing``): each stored secret is sealed
with the current ``SECRET_KEY`` in place of the clear text, and opened again on the way back."""

from django.db import migrations, models

from salesmgr.sealing import seal, unseal


def seal_secrets(apps, schema_editor):
    subscriptions = apps.get_model("pipeline", "WebhookSubscription")
    for subscription in subscriptions.objects.only("id", "secret"):
        subscription.secret_sealed = seal(subscription.secret)
        subscription.save(update_fields=["secret_sealed"])


def open_secrets(apps, schema_editor):
    subscriptions = apps.get_model("pipeline", "WebhookSubscription")
    for subscription in subscriptions.objects.only("id", "secret_sealed"):
        subscription.secret = unseal(subscription.secret_sealed)
        subscription.save(update_fields=["secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0035_deal_board_stage_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhooksubscription",
            name="secret_sealed",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="webhooksubscription",
            name="secret",
            field=models.CharField(default="", editable=False, max_length=80),
        ),
        migrations.RunPython(seal_secrets, open_secrets),
        migrations.RemoveField(
            model_name="webhooksubscription",
            name="secret",
        ),
    ]
