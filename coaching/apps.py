from django.apps import AppConfig


class CoachingConfig(AppConfig):
    name = "coaching"
    verbose_name = "Coaching"

    def ready(self):
        from coaching.receivers import on_deals_changed
        from pipeline.signals import deals_changed
        from salesmgr.home import home_panel_register

        home_panel_register("home-action-items")
        home_panel_register("home-celebrations")
        home_panel_register("home-training")
        deals_changed.connect(on_deals_changed, dispatch_uid="coaching.on_deals_changed")
