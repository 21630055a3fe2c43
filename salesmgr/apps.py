from django.apps import AppConfig


class SalesmgrConfig(AppConfig):
    name = "salesmgr"
    verbose_name = "People and reporting line"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished

        from salesmgr.audit import receivers
        from salesmgr.log import log_context_clear

        user_logged_in.connect(_start_session_clocks, dispatch_uid="salesmgr.session_clocks")
        receivers.connect()
        request_finished.connect(log_context_clear, dispatch_uid="log-context-clear")


def _start_session_clocks(sender, request, user, **kwargs):
    """Signing in starts the session's idle and absolute clocks (``SessionLifetimeMiddleware``)."""
    from salesmgr.middleware import session_stamp

    if request is not None and hasattr(request, "session"):
        session_stamp(request.session)
