"""Middleware of the whole site."""

import logging
import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from salesmgr.log import (
    LogContext,
    context_user_id,
    log_context,
    log_context_bind,
    new_request_id,
    valid_request_id,
)
from salesmgr.services import client_address

request_logger = logging.getLogger("salesmgr.request")


class RequestIdMiddleware:
    """Give each request an id: the client's ``X-Request-ID`` when it is sane, else a new one.

    The id goes back in the ``X-Request-ID`` response header and onto every log
    line written while the request is served (``salesmgr.log``), and one line
    per request records its method, path, status and duration.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = valid_request_id(request.headers.get("X-Request-ID")) or new_request_id()
        request.request_id = request_id
        address = client_address(request)
        log_context_bind(LogContext(request_id=request_id, ip_address=address, request=request))
        started = time.monotonic()
        response = self.get_response(request)
        # What Django logs about the response still carries the ids; the request itself is let go,
        # so nothing done after it (a stream left unread) is taken for its user's doing.
        log_context_bind(
            LogContext(
                request_id=request_id,
                user_id=context_user_id(log_context()),
                ip_address=address,
            )
        )
        response["X-Request-ID"] = request_id
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        request_logger.info(
            "%s %s %s %.1f ms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response


class HtmxLoginRedirectMiddleware:
    """Send a signed-out HTMX request to the login page as a whole-page visit.

    A fragment that needs a signed-in user answers a signed-out request (an
    expired session, say) with a redirect to the login page; HTMX would follow
    it and put the login page inside the fragment's place. Instead the browser
    is told (``HX-Redirect``) to open the login page itself, coming back to the
    page the user was on (``HX-Current-URL``), not to the fragment.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.status_code not in (
            301,
            302,
            303,
            307,
            308,
        ):
            return response
        login_path = resolve_url(settings.LOGIN_URL)
        location = urlsplit(response.get("Location", ""))
        if location.path != login_path or f"{REDIRECT_FIELD_NAME}=" not in location.query:
            return response  # not "sign in first" (signing out, say, also ends on the login page)
        back = urlsplit(request.htmx.current_url or "")
        target = f"{back.path}?{back.query}" if back.query else back.path
        redirect = HttpResponse(status=204)
        redirect["HX-Redirect"] = f"{login_path}?{urlencode({REDIRECT_FIELD_NAME: target or '/'})}"
        return redirect
