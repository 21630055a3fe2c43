"""The quota planner's pages: the grid, in-place cell edits (HTMX), copy, spread, CSV upload and target basis.

Admins change quotas; managers read their team's and reps their own. Every
write goes through the quota services and their checks; every page reads the
grid from ``QuotaPlanRunner`` (a fixed number of queries).
"""

import csv
import datetime
import io
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from quotas.checks import parse_target
from quotas.models import QuotaPeriod, TargetBasis
from quotas.services import UploadRefused, manager_target_set, quota_cell_set, quotas_upload
from reports.runners.planner import (
    COLUMN_KINDS,
    QuotaPlanRunner,
    column_at,
    planner_people_filter,
    seasonality,
    spread_targets,
)
from salesmgr.models import Role, User
from salesmgr.values import parse_date, parse_int

CSV_FIELDS = ("owner", "period_start", "period_end", "period", "target")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# A refused cell answers 422 with the cell and its message; the planner page tells HTMX to swap it in.
REFUSED = 422


def _year_and_kind(source) -> tuple[int, str]:
    year = parse_int(source.get("year"), positive=True)
    year = year if year and 2000 <= year <= 2100 else timezone.localdate().year
    kind = source.get("columns")
    return year, kind if kind in COLUMN_KINDS else QuotaPeriod.MONTH


def _back(year: int, kind: str) -> str:
    return f"{reverse('quota-planner')}?{urlencode({'year': year, 'columns': kind})}"


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise PermissionDenied("Only admins change quotas.")


def _page(
    request: HttpRequest, year: int, kind: str, extra: dict | None = None, status: int = 200
) -> HttpResponse:
    grid = QuotaPlanRunner(request.user, year, kind).run()
    context = {
        "grid": grid,
        "year": year,
        "kind": kind,
        "kinds": list(COLUMN_KINDS.items()),
        "can_edit": request.user.is_admin,
        "bases": TargetBasis.choices,
        "csv_fields": CSV_FIELDS,
        **(extra or {}),
    }
    return render(request, "reports/planner.html", context, status=status)


@login_required
@require_safe
def planner(request: HttpRequest) -> HttpResponse:
    """People by months or quarters of a year; admins edit each cell in place."""
    year, kind = _year_and_kind(request.GET)
    return _page(request, year, kind)


@login_required
@require_POST
def planner_cell(request: HttpRequest) -> HttpResponse:
    """Set one person's quota over one column; answers the cell again (with its error, if refused) and the
    row and column totals, which HTMX swaps in out of band."""
    _require_admin(request.user)
    data = request.POST
    year, kind = _year_and_kind(data)
    start = parse_date(data.get("start"))
    owner_id = parse_int(data.get("owner"), positive=True)
    owner = get_object_or_404(User.objects.filter(planner_people_filter(request.user)), pk=owner_id)
    if start is None or start.day != 1 or (kind == QuotaPeriod.QUARTER and start.month % 3 != 1):
        return HttpResponse("Give the first day of a month or quarter.", status=400)
    column = column_at(start, kind)
    raw = data.get("target", "").strip()
    error = None
    target = None
    if raw:
        target, error = parse_target(raw)
    if error is None:
        try:
            quota_cell_set(
                owner=owner, period_start=column.start, period_end=column.last, period=kind, target=target,
                by=request.user,
            )  # fmt: skip
        except ValidationError as refused:
            error = " ".join(
                message for messages_ in refused.message_dict.values() for message in messages_
            )
    grid = QuotaPlanRunner(request.user, column.start.year, kind).run()
    row = next(row for row in grid["rows"] if row["owner_id"] == owner.pk)
    index = next(i for i, c in enumerate(grid["columns"]) if c.key == column.key)
    context = {
        "grid": grid,
        "row": row,
        "cell": row["cells"][index],
        "index": index,
        "year": year,
        "kind": kind,
        "can_edit": True,
        "error": error,
        "typed": raw,
        "oob": True,
    }
    return render(request, "reports/_planner_cell.html", context, status=REFUSED if error else 200)


@login_required
@require_POST
def planner_copy(request: HttpRequest) -> HttpResponse:
    """Give everyone without a quota in a column the target they had in the column before it."""
    _require_admin(request.user)
    year, kind = _year_and_kind(request.POST)
    start = parse_date(request.POST.get("start"))
    if start is None:
        messages.error(request, "Choose the period to copy into.")
        return redirect(_back(year, kind))
    column = column_at(start.replace(day=1), kind)
    previous = column.previous
    grids = {
        grid_year: QuotaPlanRunner(request.user, grid_year, kind).run()
        for grid_year in {column.start.year, previous.start.year}
    }

    def cell(grid, owner_id, key):
        row = next(r for r in grid["rows"] if r["owner_id"] == owner_id)
        return next(c for c in row["cells"] if c["column"].key == key)

    rows = []
    for row in grids[column.start.year]["rows"]:
        before = cell(grids[previous.start.year], row["owner_id"], previous.key)
        now = cell(grids[column.start.year], row["owner_id"], column.key)
        if before["value"] is not None and before["editable"] and now["value"] is None:
            rows.append(
                {"owner": row["username"], "period_start": column.start.isoformat(),
                 "period_end": column.last.isoformat(), "period": kind, "target": str(before["value"])}
            )  # fmt: skip
    if not rows:
        messages.info(
            request,
            f"Nothing to copy: no one without a quota in {column.label} had one in {previous.label}.",
        )
        return redirect(_back(year, kind))
    try:
        result = quotas_upload(rows=rows, by=request.user)
    except UploadRefused as refused:
        messages.error(request, "; ".join(f"{e.message}" for e in refused.errors))
    else:
        messages.success(
            request, f"Copied {result['created']} quotas from {previous.label} into {column.label}."
        )
    return redirect(_back(year, kind))


@login_required
@require_POST
def planner_spread(request: HttpRequest) -> HttpResponse:
    """Spread a person's yearly target over the twelve months, evenly or by last year's won value per month."""
    _require_admin(request.user)
    year, kind = _year_and_kind(request.POST)
    owner = get_object_or_404(
        User.objects.filter(planner_people_filter(request.user)),
        pk=parse_int(request.POST.get("owner"), positive=True),
    )
    total, error = parse_target(request.POST.get("target", ""))
    if error:
        messages.error(request, f"Yearly target: {error}")
        return redirect(_back(year, kind))
    seasonal = request.POST.get("method") == "seasonal"
    weights = seasonality(owner.pk, year) if seasonal else None
    if seasonal and not sum(weights):
        messages.info(request, f"{owner} won nothing in {year - 1}: the target is spread evenly.")
    months = [column_at(datetime.date(year, month, 1), QuotaPeriod.MONTH) for month in range(1, 13)]
    rows = [
        {"owner": owner.username, "period_start": m.start.isoformat(), "period_end": m.last.isoformat(),
         "period": QuotaPeriod.MONTH, "target": str(share)}
        for m, share in zip(months, spread_targets(total, weights), strict=True)
    ]  # fmt: skip
    try:
        quotas_upload(rows=rows, by=request.user)
    except UploadRefused as refused:
        messages.error(
            request, "Nothing was spread: " + "; ".join(e.message for e in refused.errors)
        )
    else:
        how = "by last year's won value per month" if seasonal and sum(weights) else "evenly"
        messages.success(request, f"Spread {total:,.2f} over {year} for {owner}, {how}.")
    return redirect(_back(year, QuotaPeriod.MONTH))


def _csv_rows(upload) -> tuple[list[dict], str | None]:
    """The rows of an uploaded CSV as dicts, or why the file cannot be read."""
    if upload is None:
        return [], "Choose a CSV file."
    if upload.size > MAX_UPLOAD_BYTES:
        return [], "The file is larger than 2 MB."
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], "The file is not UTF-8 text."
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in ("owner", "period_start", "target") if name not in header]
    if missing or ("period_end" not in header and "period" not in header):
        return [], (
            "The first line must name the columns: owner, period_start, period_end or period, target"
            + (f" (missing: {', '.join(missing)})." if missing else ".")
        )
    reader.fieldnames = header
    return [
        {key: (value or "").strip() for key, value in row.items() if key in CSV_FIELDS}
        for row in reader
    ], None


@login_required
@require_POST
def planner_upload(request: HttpRequest) -> HttpResponse:
    """A CSV of quotas: a dry run lists each bad row by number and reason; an apply writes every row or none."""
    _require_admin(request.user)
    year, kind = _year_and_kind(request.POST)
    rows, problem = _csv_rows(request.FILES.get("file"))
    apply = request.POST.get("apply") == "1"
    if problem:
        return _page(request, year, kind, {"upload": {"problem": problem}}, status=400)
    try:
        result = quotas_upload(rows=rows, by=request.user, dry_run=not apply)
    except UploadRefused as refused:
        return _page(
            request,
            year,
            kind,
            {"upload": {"errors": refused.errors, "rows": len(rows)}},
            status=400,
        )
    if apply:
        messages.success(
            request,
            f"Uploaded {result['rows']} quotas: {result['created']} new, {result['updated']} replaced.",
        )
        return redirect(_back(year, kind))
    return _page(request, year, kind, {"upload": {"checked": result}})


@login_required
@require_POST
def planner_basis(request: HttpRequest) -> HttpResponse:
    """Choose whether a manager's target is the roll-up of their team's quotas or their own quota."""
    _require_admin(request.user)
    year, kind = _year_and_kind(request.POST)
    manager = get_object_or_404(
        User, pk=parse_int(request.POST.get("manager"), positive=True), role=Role.MANAGER
    )
    try:
        manager_target_set(manager=manager, basis=request.POST.get("basis", ""), by=request.user)
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    return redirect(_back(year, kind))
