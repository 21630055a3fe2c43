"""The import pages: upload a spreadsheet, map its columns, read the dry run's report, run it, watch it, download its rejected rows.

Everyone may import (reps only their own deals); an import is seen by whoever
started it and by admins, and only its uploader may run it. The work is done by
``pipeline.services.import_jobs`` in the background (``run_import``); the page
polls the job's progress while it runs.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from pipeline.models import ImportJob, ImportKind, ImportStatus
from pipeline.selectors import import_jobs_visible_to
from pipeline.services.import_jobs import (
    import_check_start,
    import_job_create,
    import_job_not_queued,
    import_kinds_for,
    import_rejection_summary,
    import_rejections_csv,
    import_run_start,
)
from pipeline.services.imports.sheets import COLUMNS
from pipeline.tasks import run_import
from pipeline.views.common import paginate
from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.errors import PermissionDenied
from salesmgr.queue import task_publish

REJECTIONS_SHOWN = 100
NOT_QUEUED = (
    "The task queue cannot be reached, so the import has not started. Try again in a minute."
)


def queue_import(job_id: int) -> str | None:
    """Queue the job's task; None when the broker cannot be reached."""
    return task_publish(run_import, args=[job_id], ignore_result=True)


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds")
    file = forms.FileField(label="CSV or XLSX file", help_text="The first row names the columns.")

    def __init__(self, *args, kinds: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, ImportKind(k).label) for k in kinds]


def _job(request: HttpRequest, pk: int) -> ImportJob:
    return get_object_or_404(import_jobs_visible_to(request.user), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    """Upload a file to import, and the imports you started (admins: everyone's)."""
    kinds = import_kinds_for(request.user)
    initial = {"kind": request.GET.get("kind") if request.GET.get("kind") in kinds else kinds[0]}
    form = UploadForm(request.POST or None, request.FILES or None, kinds=kinds, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_create(
                by=request.user, kind=form.cleaned_data["kind"], upload=form.cleaned_data["file"]
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        except PermissionDenied as error:
            form.add_error("kind", str(error))
        else:
            return redirect("import-detail", pk=job.pk)
    page = paginate(import_jobs_visible_to(request.user), request)
    context = {"form": form, "page": page, "jobs": page.rows}
    return render(request, "pipeline/imports.html", context, status=400 if form.errors else 200)


def _mapping_fields(job: ImportJob, errors: dict | None = None) -> list[dict]:
    errors = errors or {}
    return [
        {
            "column": column,
            "chosen": job.mapping.get(column.name, ""),
            "errors": errors.get(column.name, []),
        }
        for column in COLUMNS[job.kind]
    ]


def _detail(request: HttpRequest, job: ImportJob, *, errors=None, status: int = 200):
    dry_run = job.status in (ImportStatus.CHECKED, ImportStatus.CHECKING)
    context = {
        "job": job,
        "fields": _mapping_fields(job, errors),
        "mapping_errors": errors or {},
        "may_run": job.requested_by_id == request.user.pk,
        "rejections": import_rejection_summary(job, dry_run=dry_run, limit=REJECTIONS_SHOWN)
        if job.status in (ImportStatus.CHECKED, ImportStatus.DONE)
        else [],
        "phase": "check" if dry_run else "run",
        "shown": REJECTIONS_SHOWN,
    }
    return render(request, "pipeline/import_detail.html", context, status=status)


@login_required
@require_safe
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One import: its column mapping, its progress, the dry run's report or the run's result."""
    return _detail(request, _job(request, pk))


@login_required
@require_POST
def import_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep the chosen columns and start the dry run."""
    job = _job(request, pk)
    mapping = {
        column.name: request.POST.get(f"map_{column.name}", "") for column in COLUMNS[job.kind]
    }
    job.mapping = mapping
    try:
        import_check_start(
            job=job,
            by=request.user,
            mapping=mapping,
            day_first=request.POST.get("day_first", "1") == "1",
            run=lambda job_id: _queued(request, job_id),
        )
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    except ValidationError as error:
        job.refresh_from_db()
        job.mapping = mapping
        refused = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
        return _detail(request, job, errors=refused, status=400)
    return redirect("import-detail", pk=job.pk)


@login_required
@require_POST
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Write the checked file in the background."""
    job = _job(request, pk)
    try:
        import_run_start(
            job=job,
            by=request.user,
            run=lambda job_id: _queued(request, job_id),
        )
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _detail(request, job, status=400)
    return redirect("import-detail", pk=job.pk)


def _queued(request: HttpRequest, job_id: int) -> None:
    if queue_import(job_id) is None:
        import_job_not_queued(job_id=job_id, message=NOT_QUEUED)
        messages.error(request, NOT_QUEUED)


@login_required
@require_safe
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled while the job runs; once it has finished the page reloads."""
    job = _job(request, pk)
    response = render(request, "pipeline/_import_progress.html", {"job": job})
    if not job.is_busy:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_safe
def import_rejected(request: HttpRequest, pk: int) -> HttpResponse:
    """The rejected rows of the dry run (``?phase=check``) or of the run, as CSV: the file's columns, the row and why."""
    job = _job(request, pk)
    dry_run = request.GET.get("phase") == "check"
    audit_record(
        AuditKind.EXPORT,
        request=request,
        what="import rejections",
        format="csv",
        job=job.pk,
        dry_run=dry_run,
    )
    response = StreamingHttpResponse(
        import_rejections_csv(job, dry_run=dry_run), content_type="text/csv; charset=utf-8"
    )
    stem = job.file_name.rsplit(".", 1)[0]
    response["Content-Disposition"] = (
        f'attachment; filename="{stem}-rejected{"-dry-run" if dry_run else ""}.csv"'
    )
    return response
