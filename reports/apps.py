from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Metrics and forecasts"

    def ready(self) -> None:
        from django.core.signals import request_started
        from django.db.models.signals import post_migrate

        from pipeline.signals import (
            bulk_load_finished,
            bulk_load_starting,
            deals_changed,
            rates_changed,
        )
        from reports.background import on_request_started
        from reports.receivers import on_deals_changed, on_rates_changed
        from reports.rollups import (
            on_bulk_load_finished,
            on_bulk_load_starting,
            rebuild_if_zone_changed,
        )

        deals_changed.connect(on_deals_changed, dispatch_uid="reports.on_deals_changed")
        rates_changed.connect(on_rates_changed, dispatch_uid="reports.on_rates_changed")
        request_started.connect(on_request_started, dispatch_uid="reports.on_request_started")
        post_migrate.connect(
            rebuild_if_zone_changed, sender=self, dispatch_uid="reports.rebuild_if_zone_changed"
        )
        bulk_load_starting.connect(on_bulk_load_starting, dispatch_uid="reports.rollups_paused")
        bulk_load_finished.connect(on_bulk_load_finished, dispatch_uid="reports.rollups_counted")
