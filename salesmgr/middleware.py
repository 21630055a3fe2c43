"""Middleware of the whole site."""

import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, SESSION_KEY, logout
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.template import loader

from salesmgr.cache import cache_get, cache_set
from salesmgr.dbrouter import (
    reads_on_replica,
    replica_configured,
    replica_reads_start,
    replica_reads_stop,
)
from salesmgr.log import (
    LogContext,
    context_user_id,
    log_context,
    log_context_bind,
    new_request_id,
    valid_request_id,
)
from salesmgr.services import client_address

logger = logging.getLogger(__name__)
request_logger = logging.getLogger("salesmgr.request")

API_PREFIX = "/api/"


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


class SessionLifetimeMiddleware:
    """End a signed-in session that sat idle too long, or that began too long ago.

    A session records when its person signed in and, to the minute, when it was
    last used. Past ``SESSION_IDLE_SECONDS`` without a request, or
    ``SESSION_ABSOLUTE_SECONDS`` after signing in however busy, the person is
    signed out before the view runs, and a page then asks them to sign in
    again. Only the idle clock moves with use, and the session is written at
    most once a minute for it. Signing in stamps both (``session_stamp``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            now = int(time.time())
            signed_in_at = session.get(SIGNED_IN_AT)
            seen_at = session.get(SEEN_AT)
            if not isinstance(signed_in_at, int) or not isinstance(seen_at, int):
                session_stamp(session, now)  # signed in before these rules existed
            elif (
                now - signed_in_at >= settings.SESSION_ABSOLUTE_SECONDS
                or now - seen_at >= settings.SESSION_IDLE_SECONDS
            ):
                logout(request)
            elif now - seen_at >= min(60, settings.SESSION_IDLE_SECONDS // 10):
                session[SEEN_AT] = now
        return self.get_response(request)


SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"


def session_stamp(session, now: int | None = None) -> None:
    """Start a session's clocks: at sign-in (``user_logged_in``), or on a session that has none."""
    now = int(time.time()) if now is None else now
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now


class ContentSecurityPolicyMiddleware:
    """Send ``CONTENT_SECURITY_POLICY`` (a mapping of directive to sources) with every response.

    Scripts only from our own static files: no inline script, no ``on*=``
    handler, no ``eval``. ``CSP_REPORT_ONLY`` sends it as a report-only header
    instead, to try a stricter policy without breaking pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.header = (
            "Content-Security-Policy-Report-Only"
            if settings.CSP_REPORT_ONLY
            else "Content-Security-Policy"
        )
        self.value = "; ".join(
            f"{directive} {sources}".strip()
            for directive, sources in settings.CONTENT_SECURITY_POLICY.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(self.header, self.value)
        return response


# The cookie that keeps a browser's reads on the primary for a while after it wrote.
PRIMARY_PIN_COOKIE = "salesmgr_primary"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _pin_key(request: HttpRequest) -> str | None:
    """The cache key pinning an API client (known by its Authorization header) to the primary."""
    credentials = request.headers.get("Authorization")
    if not credentials:
        return None
    return "primary-pin:" + hashlib.sha256(credentials.encode()).hexdigest()[:32]


def _pinned(request: HttpRequest) -> bool:
    if request.COOKIES.get(PRIMARY_PIN_COOKIE):
        return True
    key = _pin_key(request)
    return key is not None and cache_get(key) is not None


def _on_replica(chunks: Iterable) -> Iterator:
    """A streamed body (an export) is produced after the view returned: its reads go to the replica too."""
    iterator = iter(chunks)
    while True:
        with reads_on_replica():
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


class ReplicaReadsMiddleware:
    """Serve the GET requests of ``settings.DATABASE_REPLICA_VIEWS`` from the replica.

    Only when a ``replica`` database is configured (``DATABASE_REPLICA_URL``).
    A request that may write (any method but GET, HEAD and OPTIONS) pins its
    client to the primary for ``DATABASE_REPLICA_PIN_SECONDS``: a browser by a
    cookie, an API client by a cache key on its credentials. The router
    (``salesmgr.dbrouter``) decides model by model within a routed request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        request._replica_reads = None
        try:
            response = self.get_response(request)
        finally:
            routed = request.__dict__.pop("_replica_reads", None)
            if routed is not None:
                replica_reads_stop(routed)
        if routed is not None and response.streaming:
            response.streaming_content = _on_replica(response.streaming_content)
        if request.method not in SAFE_METHODS:
            seconds = settings.DATABASE_REPLICA_PIN_SECONDS
            key = _pin_key(request)
            if key is not None:
                cache_set(key, 1, seconds)
            else:
                response.set_cookie(
                    PRIMARY_PIN_COOKIE,
                    "1",
                    max_age=seconds,
                    httponly=True,
                    samesite="Lax",
                    secure=settings.SESSION_COOKIE_SECURE,
                )
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        if not hasattr(request, "_replica_reads") or request.method not in ("GET", "HEAD"):
            return None
        match = request.resolver_match
        if match is None or match.url_name not in settings.DATABASE_REPLICA_VIEWS:
            return None
        if _pinned(request):
            return None
        request._replica_reads = replica_reads_start()
        return None


# What Django raises when the database cannot be reached, is restarting or dropped the connection.
DATABASE_ERRORS = (OperationalError, InterfaceError)
# SQLite says a bug in a statement (a syntax error, a missing table or function) with the same
# error class as a busy or unreachable database; only these messages mean the latter.
SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o", "readonly", "full")


def database_unavailable(exception: BaseException | None) -> bool:
    """Whether ``exception`` says the database is gone or busy (a 503), not that a query is wrong."""
    if not isinstance(exception, DATABASE_ERRORS):
        return False
    cause = exception.__cause__
    if isinstance(cause, sqlite3.Error):
        return any(words in str(cause).lower() for words in SQLITE_UNAVAILABLE)
    return True


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
        if not database_unavailable(exception):
            return None
        logger.warning("database unavailable (%s %s): %s", request.method, request.path, exception)
        return database_unavailable_response(request)
