from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Metrics and forecasts"

    def ready(self) -> None:
        from pipeline.signals import deals_changed
        from reports.receivers import on_deals_changed

        deals_changed.connect(on_deals_changed, dispatch_uid="reports.on_deals_changed")
