"""Exchange rates: everyone signed in reads them, admins write them, through the rate services."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pipeline.api.catalog import ReferenceViewSet
from pipeline.checks.rates import RATE_CURRENCY, exchange_rate_delete_errors, exchange_rate_errors
from pipeline.models import ExchangeRate
from pipeline.selectors import exchange_rates_visible_to
from pipeline.services import exchange_rate_create, exchange_rate_delete, exchange_rate_update
from salesmgr.api.fields import DateField


class ExchangeRateSerializer(serializers.ModelSerializer):
    currency = serializers.RegexField(
        r"^[A-Za-z]{3}$",
        max_length=3,
        error_messages={"invalid": RATE_CURRENCY},
        help_text="ISO 4217 code of the deals' currency; never the reporting currency, whose rate is 1.",
    )
    valid_from = DateField(
        help_text="The rate holds from this date until the currency's next rate."
    )
    rate = serializers.DecimalField(
        max_digits=20,
        decimal_places=10,
        help_text="What one unit of the currency is worth in the reporting currency; positive.",
    )
    reporting_currency = serializers.SerializerMethodField()

    class Meta:
        model = ExchangeRate
        fields = ["id", "currency", "valid_from", "rate", "reporting_currency"]
        # The check below words a clash of currency and date once, as everywhere else.
        validators = []

    @extend_schema_field(serializers.CharField())
    def get_reporting_currency(self, rate: ExchangeRate) -> str:
        return settings.REPORTING_CURRENCY

    def validate_currency(self, value: str) -> str:
        return value.upper()

    def validate(self, attrs):
        values = {
            field: attrs.get(field, getattr(self.instance, field, None))
            for field in ("currency", "valid_from", "rate")
        }
        errors = exchange_rate_errors(**values, exchange_rate=self.instance)
        if errors:
            raise serializers.ValidationError(
                {field: [message] for field, message in errors.items()}
            )
        return attrs


class ExchangeRateViewSet(ReferenceViewSet):
    """Dated exchange rates into the reporting currency; kept by admins."""

    selector = exchange_rates_visible_to
    serializer_class = ExchangeRateSerializer
    filterset_fields = ["currency", "valid_from"]
    search_fields = ["currency"]
    ordering_fields = ["currency", "valid_from", "rate", "id"]
    ordering = ["currency", "-valid_from"]
    entity = "exchange_rate"
    create_service = exchange_rate_create
    update_service = exchange_rate_update
    delete_service = exchange_rate_delete
    delete_errors = exchange_rate_delete_errors
