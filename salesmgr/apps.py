from django.apps import AppConfig


class SalesmgrConfig(AppConfig):
    name = "salesmgr"
    verbose_name = "People and reporting line"

    def ready(self) -> None:
        from salesmgr.audit import receivers

        receivers.connect()
