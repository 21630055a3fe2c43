from django.apps import AppConfig


class SalesmgrConfig(AppConfig):
    name = "salesmgr"
    verbose_name = "People and reporting line"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_save

        from salesmgr.audit import receivers
        from salesmgr.log import log_context_clear
        from salesmgr.sqlite import sqlite_functions_register

        user_logged_in.connect(_start_session_clocks, dispatch_uid="salesmgr.session_clocks")
        receivers.connect()
        connection_created.connect(sqlite_functions_register, dispatch_uid="salesmgr.sqlite")
        request_finished.connect(log_context_clear, dispatch_uid="log-context-clear")
        post_save.connect(
            _password_saved, sender=self.get_model("User"), dispatch_uid="salesmgr.password_saved"
        )


def _start_session_clocks(sender, request, user, **kwargs):
    """Signing in starts the session's idle and absolute clocks (``SessionLifetimeMiddleware``)."""
    from salesmgr.middleware import session_stamp

    if request is not None and hasattr(request, "session"):
        session_stamp(request.session)


def _password_saved(sender, instance, **kwargs):
    """A password set outside the services (``manage.py changepassword``, a shell) signs out too.

    ``set_password`` keeps the new raw password on the instance until its save has finished,
    so this sees every password change, whatever path saved it, and deletes the API token.
    """
    if getattr(instance, "_password", None) is not None:
        from salesmgr.services import user_sign_out_everywhere

        user_sign_out_everywhere(user=instance)
