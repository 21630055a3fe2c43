"""Browser pages that belong to no one app: the error pages and the site icon.

The 403 and 500 pages are Django's own handlers rendering ``403.html`` and
``500.html``; the 500 page renders without the request or the database.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 404 page; an address under the API that matches no endpoint answers JSON, as the API does."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever a page links to: point them at the static icon."""
    return redirect(static("favicon.ico"))
