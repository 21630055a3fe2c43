from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Metrics and forecasts"

    def ready(self) -> None:
        from django.core.signals import request_started

        from pipeline.signals import deals_changed, rates_changed
        from reports.background import on_request_started
        from reports.receivers import on_deals_changed, on_rates_changed

        deals_changed.connect(on_deals_changed, dispatch_uid="reports.on_deals_changed")
        rates_changed.connect(on_rates_changed, dispatch_uid="reports.on_rates_changed")
        request_started.connect(on_request_started, dispatch_uid="reports.on_request_started")
