"""The audit log's page, for admins: the newest events first, filtered, a page at a time."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from salesmgr.audit.filters import AuditEventFilter
from salesmgr.audit.models import AuditKind
from salesmgr.audit.selectors import audit_events_visible_to
from salesmgr.models import User

PAGE_SIZE = 50


def _before(request: HttpRequest) -> int | None:
    raw = request.GET.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@login_required
@require_safe
def audit_log(request: HttpRequest) -> HttpResponse:
    """Fixed queries whatever the log's size: the people for the filter, and one page of events.

    Pages are keyed by id (``?before=``): no count, and no offset to walk past.
    """
    if not request.user.is_admin:
        raise PermissionDenied("Only admins may read the audit log.")
    filters = AuditEventFilter(request.GET, queryset=audit_events_visible_to(request.user))
    events = filters.qs.order_by("-id") if filters.is_valid() else filters.queryset.none()
    before = _before(request)
    if before is not None:
        events = events.filter(pk__lt=before)
    rows = list(events[: PAGE_SIZE + 1])
    params = request.GET.copy()
    params.pop("before", None)
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        params["before"] = rows[-1].pk
        older_query = params.urlencode()
    else:
        older_query = None
    context = {
        "events": rows,
        "filters": filters,
        "kinds": AuditKind.choices,
        "people": User.objects.order_by("username").values_list("pk", "username"),
        "older_query": older_query,
        "paged": before is not None,
    }
    return render(request, "salesmgr/audit_log.html", context)
