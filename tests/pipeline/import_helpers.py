"""Building spreadsheets and running imports in the spreadsheet-import tests."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from pipeline.services.import_jobs import (
    import_check_start,
    import_job_create,
    import_job_run,
    import_run_start,
)

DEAL_HEADERS = [
    "Deal ID",
    "Deal Name",
    "Company",
    "Deal Owner",
    "Deal Stage",
    "Amount",
    "Currency",
    "Close Date",
]


def csv_upload(rows: list[list], headers: list[str] = DEAL_HEADERS, name: str = "deals.csv"):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


def xlsx_upload(rows: list[list], headers: list[str] = DEAL_HEADERS, name: str = "deals.xlsx"):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


def checked(by, upload, kind="deals", mapping=None, **options):
    """Upload and dry-run a file with its guessed (or the given) mapping; the job, refreshed."""
    job = import_job_create(by=by, kind=kind, upload=upload)
    import_check_start(job=job, by=by, mapping=mapping or job.mapping, **options)
    return import_job_run(job_id=job.pk)


def imported(by, upload, kind="deals", mapping=None, **options):
    """Upload, dry-run and run a file; the job, refreshed."""
    job = checked(by, upload, kind, mapping, **options)
    import_run_start(job=job, by=by)
    return import_job_run(job_id=job.pk)


def reasons(job, dry_run: bool) -> dict[int, str]:
    return dict(job.rejections.filter(dry_run=dry_run).values_list("row", "reasons"))
