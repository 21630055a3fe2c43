"""The pages of the Reports menu: the index, one page per report, and its CSV and XLSX exports.

Every report page takes the shared scope and period picker; the pick is
checked against what the user may see (``picked`` and ``scope_for``) before a
report sees it, so a report never widens what a page shows.
"""

from dataclasses import replace

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from pipeline.picker import PERIODS, Pick, picked, picker_options, scope_label
from pipeline.scopes import scope_for
from pipeline.views.common import query_without
from reports.catalog import report_for, reports_for
from reports.catalog.base import paged
from reports.catalog.exports import csv_response, xlsx_response
from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record

EXPORTS = ("csv", "xlsx")


def _pick(request: HttpRequest) -> Pick:
    pick = picked(request)
    return replace(pick, scope=scope_for(request.user, pick.scope))


@login_required
@require_safe
def report_index(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/catalog/index.html", {"reports": reports_for(request.user)})


@login_required
@require_safe
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    report = report_for(request.user, slug)
    pick = _pick(request)
    today = timezone.localdate()
    try:
        result = paged(
            report.build_for_page(request.user, pick, today, request.GET), request.GET.get("page")
        )
    except ValidationError as error:
        return HttpResponse(" ".join(error.messages), status=400, content_type="text/plain")
    options = picker_options(request, pick)
    query = request.GET.urlencode()
    context = {
        "report": report,
        "result": result,
        "reports": reports_for(request.user),
        "pick": pick,
        "scope_label": scope_label(pick, options),
        "period_label": PERIODS.get(pick.period.preset, ""),
        "export_query": f"?{query}" if query else "",
        "page_query": query_without(request, "page"),
        **options,
    }
    return render(request, "reports/catalog/report.html", context)


@login_required
@require_safe
def report_export(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    if fmt not in EXPORTS:
        raise Http404("Reports export as CSV or XLSX.")
    report = report_for(request.user, slug)
    pick = _pick(request)
    today = timezone.localdate()
    columns, rows = report.export_rows(request.user, pick, today, **report.options(request.GET))
    filename = report.filename(pick, today)
    audit_record(
        AuditKind.EXPORT,
        request=request,
        what=f"report {slug}",
        format=fmt,
        query=request.GET.urlencode()[:500],
    )
    if fmt == "csv":
        return csv_response(columns, rows, filename)
    return xlsx_response(columns, rows, filename, report.title)
