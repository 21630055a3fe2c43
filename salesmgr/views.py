"""Browser pages that belong to no one app: the error pages and the site icon.

The 403 page is Django's own handler rendering ``403.html``; the 500 page
renders ``500.html`` without the request or the database, and is a 503
(``503.html`` or JSON) when the error was the database being unreachable.
"""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from salesmgr.middleware import API_PREFIX, database_unavailable, database_unavailable_response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 404 page; an address under the API that matches no endpoint answers JSON, as the API does."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page; an error raised outside a view because the database is gone is a 503."""
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    return defaults.server_error(request)


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever a page links to: point them at the static icon."""
    return redirect(static("favicon.ico"))
