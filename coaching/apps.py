from django.apps import AppConfig


class CoachingConfig(AppConfig):
    name = "coaching"
    verbose_name = "Coaching"

    def ready(self):
        from salesmgr.home import home_panel_register

        home_panel_register("home-action-items")
