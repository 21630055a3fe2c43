"""Each person's won deals by currency and amount: the largest few bound the person's best deal
(``coaching.celebrations.personal_bests_for``), which then ranks only the deals that can reach
the bound, instead of every won deal of the people shown (the home page's celebrations)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0048_account_name_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                fields=["owner", "currency", "amount"],
                include=["closed_at", "id"],
                condition=models.Q(status="won", deleted_at__isnull=True),
                name="deal_won_owner_amount_idx",
            ),
        ),
    ]
