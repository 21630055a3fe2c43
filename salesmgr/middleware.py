"""Middleware of the whole site."""

import logging
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.template import loader

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


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


# What Django raises when the database cannot be reached, is restarting or dropped the connection.
DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = "The database is unavailable or busy right now; try again in a few seconds."


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """A 503 with ``Retry-After``: JSON under the API (or when JSON is asked for), else a page.

    The page renders without the request or the database, like the 500 page.
    """
    wants_json = request.path.startswith(API_PREFIX) or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        response: HttpResponse = JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
    else:
        page = loader.render_to_string("503.html", {"message": DATABASE_UNAVAILABLE})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that finds the database gone answers a clear 503 at once, not a 500.

    With ``CONN_HEALTH_CHECKS`` each process reconnects on its own once the
    database is back; meanwhile every request fails fast (a refused connection,
    or ``connect_timeout``) with this answer. Errors raised outside a view
    (in a middleware) reach the same answer through ``salesmgr.views.server_error``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        logger.warning("database unavailable (%s %s): %s", request.method, request.path, exception)
        return database_unavailable_response(request)
