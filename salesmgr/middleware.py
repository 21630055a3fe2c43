"""Middleware of the whole site."""

import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME, SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url


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
