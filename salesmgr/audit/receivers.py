"""Django's sign-in signals, recorded in the audit log (the sign-in page, the admin's, the API's failures)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.models import User

API_PREFIX = "/api/"


def _via(request) -> str:
    return "api" if request is not None and request.path.startswith(API_PREFIX) else "page"


def signed_in(sender, request, user, **kwargs) -> None:
    audit_record(AuditKind.SIGNIN, actor=user, request=request, target=user, via=_via(request))


def signed_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(AuditKind.SIGNOUT, actor=user, request=request, target=user)


def sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username", ""))[:150]
    target = User.objects.filter(username=username).first() if username else None
    audit_record(
        AuditKind.SIGNIN_FAILED,
        request=request,
        target=target,
        username=username,
        via=_via(request),
    )


def connect() -> None:
    user_logged_in.connect(signed_in, dispatch_uid="audit-signed-in")
    user_logged_out.connect(signed_out, dispatch_uid="audit-signed-out")
    user_login_failed.connect(sign_in_failed, dispatch_uid="audit-sign-in-failed")
