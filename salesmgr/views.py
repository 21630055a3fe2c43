"""Browser pages that belong to no one app: the 404 page."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 404 page; an address under the API that matches no endpoint answers JSON, as the API does."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)
