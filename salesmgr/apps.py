from django.apps import AppConfig


class SalesmgrConfig(AppConfig):
    name = "salesmgr"
    verbose_name = "People and reporting line"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_start_session_clocks, dispatch_uid="salesmgr.session_clocks")


def _start_session_clocks(sender, request, user, **kwargs):
    """Signing in starts the session's idle and absolute clocks (``SessionLifetimeMiddleware``)."""
    from salesmgr.middleware import session_stamp

    if request is not None and hasattr(request, "session"):
        session_stamp(request.session)
