from django.apps import AppConfig


class SalesmgrConfig(AppConfig):
    name = "salesmgr"
    verbose_name = "People and reporting line"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from salesmgr.audit import receivers
        from salesmgr.log import log_context_clear

        receivers.connect()
        request_finished.connect(log_context_clear, dispatch_uid="log-context-clear")
