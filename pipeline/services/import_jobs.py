"""Spreadsheet imports of deals, accounts and contacts: upload, map the columns, dry run, run.

A job reads its file in batches of ``IMPORT_BATCH_ROWS``. Each row is read
into the values the services take (owner by username or e-mail, stage and
pipeline by name, account by name or external id, products by SKU); a row
that cannot be read is rejected with its reasons. The rest of the batch goes
through the same services as the API (``deals_upsert``, ``accounts_import``,
``account_update``, ``contact_create``, ``contact_update``): a dry run only
checks, a run writes the batch in one transaction together with its rejected
rows and the job's counts, so a batch is written whole or not at all and a
job run again resumes after its last committed batch.

Who may import: admins anything for anyone; managers for themselves and their
team; reps only their own deals. Only admins may date a record in the past.
"""

import csv
import datetime
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from pipeline.checks.accounts import account_owner_refusal, account_values_errors
from pipeline.checks.contacts import contact_account_errors, contact_write_refusal
from pipeline.models import (
    Account,
    Contact,
    ForecastCategory,
    ImportJob,
    ImportKind,
    ImportMapping,
    ImportRejection,
    ImportStatus,
    LostReason,
    Pipeline,
    Product,
    Stage,
    line_total,
)
from pipeline.selectors import accounts_visible_to, contacts_visible_to
from pipeline.services.accounts import account_update
from pipeline.services.bulk import DealRow, deals_upsert
from pipeline.services.contacts import contact_create, contact_update
from pipeline.services.imports import AccountSpec, RowErrors, accounts_import, allowed_owner_ids
from pipeline.services.imports.sheets import (
    COLUMNS,
    UnreadableFile,
    headers_of,
    is_xlsx,
    mapping_errors,
    mapping_guess,
    read_date,
    read_datetime,
    read_decimal,
    read_int,
    read_rows,
    read_text,
)
from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.errors import PermissionDenied
from salesmgr.models import User

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
# A batch whose service keeps refusing rows after this many passes is rejected whole.
MAX_PASSES = 4


def batch_rows() -> int:
    return settings.IMPORT_BATCH_ROWS


def import_kinds_for(user: User) -> list[str]:
    """What ``user`` may import: reps only their own deals."""
    if user.is_rep:
        return [ImportKind.DEALS]
    return list(ImportKind.values)


def import_job_create(*, by: User, kind: str, upload: UploadedFile) -> ImportJob:
    """Keep an uploaded CSV or XLSX file as a new import, with its columns read and counted."""
    if kind not in import_kinds_for(by):
        if kind in ImportKind.values:
            raise PermissionDenied("Reps import only their own deals.")
        raise ValidationError({"kind": [f"Choose one of: {', '.join(ImportKind.values)}."]})
    name = (upload.name or "upload.csv").rsplit("/", 1)[-1][:200]
    if upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": ["The file is larger than 512 MB."]})
    if not (is_xlsx(name) or name.lower().endswith((".csv", ".txt"))):
        raise ValidationError({"file": ["Upload a .csv or .xlsx file."]})
    try:
        upload.seek(0)
        headers, total = headers_of(upload, name)
    except UnreadableFile as exc:
        raise ValidationError({"file": [str(exc)]}) from exc
    upload.seek(0)
    remembered = ImportMapping.objects.filter(user=by, kind=kind).values_list("mapping", flat=True)
    job = ImportJob(
        kind=kind,
        requested_by=by,
        file_name=name,
        headers=headers,
        total=total,
        mapping=mapping_guess(kind, headers, next(iter(remembered), None)),
    )
    job.file.save(name, upload, save=False)
    with transaction.atomic():
        job.save()
        audit_record(
            AuditKind.IMPORT_UPLOADED,
            actor=by,
            job=job.pk,
            records=kind,
            file=name,
            rows=total,
        )
    return job


def import_check_start(
    *, job: ImportJob, by: User, mapping: dict, day_first: bool = True, run=None
) -> ImportJob:
    """Keep the column mapping (remembered for ``by``'s next import of the kind) and queue the dry run.

    ``run`` queues the job (the Celery task, after commit).
    """
    _require_owner(job, by)
    if job.is_busy:
        raise ValidationError("This import is already running.")
    mapping = {name: header for name, header in mapping.items() if header}
    errors = mapping_errors(job.kind, mapping, job.headers)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        ImportMapping.objects.update_or_create(
            user=by,
            kind=job.kind,
            defaults={"mapping": _remembered(job, mapping), "updated_at": timezone.now()},
        )
        job.rejections.all().delete()
        job.mapping = mapping
        job.day_first = day_first
        _restart(job, ImportStatus.CHECKING)
        if run is not None:
            transaction.on_commit(lambda: run(job.pk))
    return job


def _remembered(job: ImportJob, mapping: dict) -> dict:
    """What to offer next time: the columns chosen, and '' for each field left out on purpose."""
    return {column.name: mapping.get(column.name, "") for column in COLUMNS[job.kind]}


def import_run_start(*, job: ImportJob, by: User, run=None) -> ImportJob:
    """Queue the writing run of a checked import; the dry run's rejected rows are kept for its report."""
    _require_owner(job, by)
    if job.status != ImportStatus.CHECKED:
        raise ValidationError("Check the file with a dry run first.")
    with transaction.atomic():
        job.rejections.filter(dry_run=False).delete()
        _restart(job, ImportStatus.QUEUED)
        if run is not None:
            transaction.on_commit(lambda: run(job.pk))
    return job


def import_job_not_queued(*, job_id: int, message: str) -> None:
    """Put back a job whose task could not be queued, untouched, to be started again; ``message`` says why."""
    ImportJob.objects.filter(pk=job_id, status=ImportStatus.CHECKING, done=0).update(
        status=ImportStatus.UPLOADED, error=message
    )
    ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED, done=0).update(
        status=ImportStatus.CHECKED, error=message
    )


def _require_owner(job: ImportJob, by: User) -> None:
    if job.requested_by_id != by.pk:
        raise PermissionDenied("Only the person who uploaded the file may run its import.")


def _restart(job: ImportJob, status: str) -> None:
    job.status = status
    job.cursor = job.done = job.created = job.updated = job.rejected = 0
    job.error = ""
    job.started_at = job.finished_at = None
    job.save()


def import_job_run(*, job_id: int, seconds: float | None = None) -> ImportJob | None:
    """Run the job's dry run or writing run, resuming after its last committed batch.

    With ``seconds`` it stops after the first batch that ends later than that and
    answers the job still busy, for the caller to queue the rest (a task must end
    within Celery's time limit); without, it runs to the end. A finished job, or
    one not yet mapped, is left as it is, so a task run twice does nothing twice.
    """
    started = time.monotonic()
    job = ImportJob.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None or job.status not in (
        ImportStatus.CHECKING,
        ImportStatus.QUEUED,
        ImportStatus.RUNNING,
    ):
        return job
    dry_run = job.status == ImportStatus.CHECKING
    if job.status == ImportStatus.QUEUED:
        job.status = ImportStatus.RUNNING
    job.started_at = job.started_at or timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(status=job.status, started_at=job.started_at)
    try:
        importer = _IMPORTERS[job.kind](job.requested_by, job)
        for batch in _batches(job):
            _batch_handle(job, importer, batch, dry_run)
            if seconds is not None and time.monotonic() - started > seconds:
                job.refresh_from_db()
                return job
    except Exception as exc:  # the job records why it stopped; what it wrote stays written
        logger.exception("import %s failed", job.pk)
        with transaction.atomic():
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportStatus.FAILED,
                error=str(exc)[:500] or type(exc).__name__,
                finished_at=timezone.now(),
            )
            job.refresh_from_db()
            _audit_finished(job, dry_run)
    else:
        with transaction.atomic():
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportStatus.CHECKED if dry_run else ImportStatus.DONE,
                finished_at=timezone.now(),
            )
            job.refresh_from_db()
            _audit_finished(job, dry_run)
    return job


def _audit_finished(job: ImportJob, dry_run: bool) -> None:
    """A writing run that ended (done or failed) goes in the audit log; a dry run changed nothing."""
    if dry_run:
        return
    audit_record(
        AuditKind.IMPORT_FINISHED,
        actor=job.requested_by,
        job=job.pk,
        records=job.kind,
        file=job.file_name,
        status=job.status,
        created=job.created,
        updated=job.updated,
        rejected=job.rejected,
    )


@dataclass
class _Row:
    number: int  # in the spreadsheet, the header row being 1
    cells: list
    item: object = None
    reasons: list[str] = field(default_factory=list)


def _batches(job: ImportJob) -> Iterator[list[_Row]]:
    """The rows after ``job.cursor``, in batches; rows seen in an earlier batch of this pass feed the duplicate check."""
    with job.file.open("rb") as handle:
        rows = read_rows(handle, job.file_name)
        next(rows, None)
        batch: list[_Row] = []
        size = batch_rows()
        for number, cells in rows:
            if number <= job.cursor:
                continue
            batch.append(_Row(number, cells))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch


def _batch_handle(job: ImportJob, importer: "_Importer", batch: list[_Row], dry_run: bool) -> None:
    """Read, check and (unless a dry run) write one batch, with its rejected rows and counts, in one transaction."""
    importer.prepare(batch)
    for row in batch:
        row.item = importer.read(row)
        external_id = importer.text(row, "external_id")
        if external_id:
            key = (importer.text(row, importer.external_id_scope).lower(), external_id)
            if key in importer.seen:
                row.reasons.append(
                    f"external_id: {external_id!r} appears on an earlier row of the file."
                )
            importer.seen.add(key)
    for _ in range(MAX_PASSES):
        good = [row for row in batch if not row.reasons]
        try:
            with transaction.atomic():
                created, updated = (
                    importer.write([row.item for row in good], dry_run) if good else (0, 0)
                )
                _record(job, batch, dry_run, created, updated)
            return
        except RowErrors as refused:
            for error in refused.errors:
                good[error["row"]].reasons.append(f"{error['field']}: {error['message']}")
    for row in batch:
        if not row.reasons:
            row.reasons.append("Rejected with its batch: the batch kept being refused.")
    with transaction.atomic():
        _record(job, batch, dry_run, 0, 0)


def _record(job: ImportJob, batch: list[_Row], dry_run: bool, created: int, updated: int) -> None:
    rejected = [
        ImportRejection(
            job=job,
            dry_run=dry_run,
            row=row.number,
            reasons="; ".join(row.reasons),
            values=[_json_cell(cell) for cell in row.cells],
        )
        for row in batch
        if row.reasons
    ]
    ImportRejection.objects.bulk_create(rejected)
    ImportJob.objects.filter(pk=job.pk).update(
        cursor=batch[-1].number,
        done=F("done") + len(batch),
        created=F("created") + created,
        updated=F("updated") + updated,
        rejected=F("rejected") + len(rejected),
    )


def _json_cell(cell):
    if isinstance(cell, datetime.datetime | datetime.date):
        return cell.isoformat()
    if isinstance(cell, Decimal):
        return str(cell)
    return cell


def import_rejections_csv(job: ImportJob, *, dry_run: bool) -> Iterator[str]:
    """The rejected rows as CSV lines: the file's columns, then the row number and the reasons."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line([*job.headers, "row", "reasons"])
    rejections = (
        job.rejections.filter(dry_run=dry_run)
        .order_by("row")
        .values_list("row", "reasons", "values")
    )
    for number, reasons, values in rejections.iterator(chunk_size=2000):
        padded = list(values) + [""] * (len(job.headers) - len(values))
        yield line([*padded[: len(job.headers)], number, reasons])


# Reading rows into what the services take.


class _Importer:
    """Reads one kind's rows and writes them through its services."""

    # The column an external id is unique within (per owner; a contact's per account): a repeat
    # is the same id in the same such column on an earlier row.
    external_id_scope = "owner"

    def __init__(self, by: User, job: ImportJob):
        self.by = by
        self.day_first = job.day_first
        self.positions = {name: job.headers.index(header) for name, header in job.mapping.items()}
        self.seen: set[tuple[str, str]] = set()
        self.allowed = allowed_owner_ids(by)
        self.users: dict[str, tuple[int, bool]] = {}
        for pk, username, email, active in User.objects.values_list(
            "pk", "username", "email", "is_active"
        ):
            self.users[username.lower()] = (pk, active)
            if email:
                self.users.setdefault(email.lower(), (pk, active))

    def cell(self, row: _Row, name: str):
        position = self.positions.get(name)
        if position is None or position >= len(row.cells):
            return ""
        return row.cells[position]

    def text(self, row: _Row, name: str) -> str:
        return read_text(self.cell(row, name))

    def owner_id(self, row: _Row, what: str) -> int | None:
        """The row's owner (the importer when empty), or None with the reason added."""
        given = self.text(row, "owner")
        if not given:
            return self.by.pk
        found = self.users.get(given.lower())
        if found is None:
            row.reasons.append(f"owner: No user with the username or e-mail {given!r}.")
            return None
        if self.allowed is not None and found[0] not in self.allowed:
            row.reasons.append(
                f"owner: Reps import only their own {what}."
                if self.by.is_rep
                else f"owner: You can import {what} only for yourself and your team."
            )
            return None
        return found[0]

    def created_at(self, row: _Row) -> datetime.datetime | None:
        created_at, error = read_datetime(
            self.cell(row, "created_at"), "creation date", day_first=self.day_first
        )
        if error:
            row.reasons.append(f"created_at: {error}")
        return created_at

    def prepare(self, batch: list[_Row]) -> None:
        """Load what the batch's rows name, in a few queries."""

    def read(self, row: _Row):
        raise NotImplementedError

    def write(self, items: list, dry_run: bool) -> tuple[int, int]:
        """Check (and unless ``dry_run`` write) the items in one go; (created, updated) or ``RowErrors``."""
        raise NotImplementedError


class _AccountLookup:
    """The accounts the importer may see that a batch names, by external id or by name."""

    def __init__(self, by: User):
        self.by = by
        self.by_external_id: dict[str, list[Account]] = {}
        self.by_name: dict[str, list[Account]] = {}

    def load(self, names: set[str]) -> None:
        names = {n for n in names if n}
        visible = accounts_visible_to(self.by)
        # External ids are unique per owner: several of the accounts one sees may share one.
        self.by_external_id = {}
        for account in visible.filter(external_id__in=names).order_by("pk"):
            self.by_external_id.setdefault(account.external_id, []).append(account)
        self.by_name = {}
        lowered = {n.lower() for n in names}
        for account in (
            visible.annotate(lname=Lower("name")).filter(lname__in=lowered).order_by("pk")
        ):
            self.by_name.setdefault(account.lname, []).append(account)

    def find(self, row: _Row, given: str) -> Account | None:
        if not given:
            row.reasons.append("account: Give the account's name or external id.")
            return None
        identified = self.by_external_id.get(given, [])
        if len(identified) == 1:
            return identified[0]
        if identified:
            row.reasons.append(
                f"account: {len(identified)} of the accounts you can see have the external id {given!r}."
            )
            return None
        named = self.by_name.get(given.lower(), [])
        if len(named) == 1:
            return named[0]
        if named:
            row.reasons.append(
                f"account: {len(named)} accounts are called {given!r}; give the account's external id."
            )
        else:
            row.reasons.append(
                f"account: No account {given!r} (by name or external id) that you can see."
            )
        return None


_FORECAST_CATEGORIES = {
    **{value: value for value in ForecastCategory.values},
    **{label.lower(): value for value, label in ForecastCategory.choices},
}


class _DealImporter(_Importer):
    what = "deals"

    def __init__(self, by: User, job: ImportJob):
        super().__init__(by, job)
        self.accounts = _AccountLookup(by)
        self.pipelines = {
            name.lower(): pk for pk, name in Pipeline.objects.values_list("pk", "name")
        }
        active = list(Pipeline.objects.filter(is_active=True).values_list("pk", flat=True))
        self.default_pipeline = active[0] if len(active) == 1 else None
        self.pipeline_names = dict(Pipeline.objects.values_list("pk", "name"))
        self.stages = {
            (pipeline_id, name.lower()): pk
            for pk, pipeline_id, name in Stage.objects.values_list("pk", "pipeline_id", "name")
        }
        self.lost_reasons = {
            name.lower(): pk for pk, name in LostReason.objects.values_list("pk", "name")
        }
        self.products: dict[str, tuple[int, Decimal]] = {}
        for pk, sku, name, price in Product.objects.values_list("pk", "sku", "name", "unit_price"):
            self.products.setdefault(name.lower(), (pk, price))
            self.products[sku.lower()] = (pk, price)

    def prepare(self, batch: list[_Row]) -> None:
        self.accounts.load({self.text(row, "account") for row in batch})

    def read(self, row: _Row) -> DealRow | None:
        reasons = row.reasons
        # No owner: a new deal is the importer's, an existing one keeps its owner.
        owner_id = self.owner_id(row, "deals") if self.text(row, "owner") else None
        pipeline_name = self.text(row, "pipeline")
        if pipeline_name:
            pipeline_id = self.pipelines.get(pipeline_name.lower())
            if pipeline_id is None:
                reasons.append(f"pipeline: No pipeline {pipeline_name!r}.")
        else:
            pipeline_id = self.default_pipeline
            if pipeline_id is None:
                reasons.append("pipeline: Say which pipeline: there are several.")
        stage_name = self.text(row, "stage")
        stage_id = None
        if not stage_name:
            reasons.append("stage: Give the stage.")
        elif pipeline_id is not None:
            stage_id = self.stages.get((pipeline_id, stage_name.lower()))
            if stage_id is None:
                reasons.append(
                    f"stage: No stage {stage_name!r} in the pipeline {self.pipeline_names[pipeline_id]!r}."
                )
        account = self.accounts.find(row, self.text(row, "account"))
        line_items = self._line_items(row)
        amount, error = read_decimal(self.cell(row, "amount"), "amount")
        if error:
            reasons.append(f"amount: {error}")
        elif amount is None:
            if line_items:
                amount = sum((line_total(q, p, d) for _, q, p, d in line_items), Decimal("0.00"))
            else:
                reasons.append("amount: Give the amount (or the products).")
        close_date, error = read_date(
            self.cell(row, "expected_close_date"), "expected close date", day_first=self.day_first
        )
        if error:
            reasons.append(f"expected_close_date: {error}")
        elif close_date is None:
            reasons.append("expected_close_date: Give the expected close date.")
        category = self.text(row, "forecast_category")
        forecast_category = (
            _FORECAST_CATEGORIES.get(category.lower()) if category else ForecastCategory.PIPELINE
        )
        if forecast_category is None:
            reasons.append(
                f"forecast_category: No forecast category {category!r}; use one of {', '.join(ForecastCategory.values)}."
            )
        reason_name = self.text(row, "lost_reason")
        lost_reason_id = self.lost_reasons.get(reason_name.lower()) if reason_name else None
        if reason_name and lost_reason_id is None:
            reasons.append(f"lost_reason: No lost reason {reason_name!r}.")
        created_at = self.created_at(row)
        if reasons:
            return None
        return DealRow(
            name=self.text(row, "name"),
            account_id=account.pk,
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            amount=amount,
            expected_close_date=close_date,
            forecast_category=forecast_category,
            external_id=self.text(row, "external_id") or None,
            owner_id=owner_id,
            currency=self.text(row, "currency").upper() or None,
            lost_reason_id=lost_reason_id,
            created_at=created_at,
            line_items=line_items,
        )

    def _line_items(self, row: _Row) -> list[tuple[int, Decimal, Decimal, Decimal]]:
        """``SKU-1*2; Other product`` as line items at the products' unit prices."""
        items = []
        for part in self.text(row, "products").split(";"):
            part = part.strip()
            if not part:
                continue
            name, _, quantity_text = part.rpartition("*") if "*" in part else (part, "", "1")
            quantity, error = read_decimal(quantity_text.strip(), "quantity")
            product = self.products.get(name.strip().lower())
            if product is None:
                row.reasons.append(f"products: No product {name.strip()!r} (by SKU or name).")
            elif error or quantity is None or quantity <= 0:
                row.reasons.append(f"products: Cannot read the quantity of {part!r}.")
            else:
                items.append((product[0], quantity, product[1], Decimal("0.00")))
        return items

    def write(self, items: list[DealRow], dry_run: bool) -> tuple[int, int]:
        result = deals_upsert(rows=items, by=self.by, dry_run=dry_run)
        return result.created, result.updated


class _AccountImporter(_Importer):
    what = "accounts"

    def prepare(self, batch: list[_Row]) -> None:
        given = {self.text(row, "external_id") for row in batch} - {""}
        self.existing: dict[str, list[Account]] = {}
        for account in accounts_visible_to(self.by).filter(external_id__in=given).order_by("pk"):
            self.existing.setdefault(account.external_id, []).append(account)

    def read(self, row: _Row) -> AccountSpec | None:
        owner_id = self.owner_id(row, "accounts")
        employees, error = read_int(self.cell(row, "employee_count"), "number of employees")
        if error:
            row.reasons.append(f"employee_count: {error}")
        revenue, error = read_decimal(self.cell(row, "annual_revenue"), "annual revenue")
        if error:
            row.reasons.append(f"annual_revenue: {error}")
        created_at = self.created_at(row)
        if row.reasons:
            return None
        return AccountSpec(
            name=self.text(row, "name"),
            owner_id=owner_id,
            industry=self.text(row, "industry"),
            region=self.text(row, "region"),
            country=self.text(row, "country").upper(),
            postcode=self.text(row, "postcode"),
            employee_count=employees,
            annual_revenue=revenue,
            website=self.text(row, "website"),
            created_at=created_at,
            external_id=self.text(row, "external_id") or None,
            place=True,
        )

    def _match(self, spec: AccountSpec) -> tuple[Account | None, str | None]:
        """The visible account a row updates (None: a new one), or why the row is refused.

        External ids are unique per owner: one account with the id is the one;
        of several, the row owner's."""
        candidates = self.existing.get(spec.external_id, []) if spec.external_id else []
        if len(candidates) <= 1:
            return (candidates[0] if candidates else None), None
        for account in candidates:
            if account.owner_id == spec.owner_id:
                return account, None
        return None, (
            f"external_id {spec.external_id!r} names {len(candidates)} of the accounts you can see; "
            "give the owner of the one to update."
        )

    def write(self, items: list[AccountSpec], dry_run: bool) -> tuple[int, int]:
        errors: list[dict] = []
        self.targets: dict[int, Account] = {}
        creates, updates = [], []
        for index, spec in enumerate(items):
            account, message = self._match(spec)
            if message is not None:
                errors.append({"row": index, "field": "external_id", "message": message})
            elif account is not None:
                self.targets[index] = account
                updates.append(index)
            else:
                creates.append(index)
        try:
            accounts_import(specs=[items[i] for i in creates], by=self.by, dry_run=dry_run)
        except RowErrors as refused:
            errors += [{**e, "row": creates[e["row"]]} for e in refused.errors]
        except PermissionDenied as exc:
            errors.append({"row": creates[0], "field": "owner", "message": str(exc)})
        owners = User.objects.in_bulk({items[i].owner_id for i in updates})
        for index in updates:
            spec = items[index]
            errors += _service_errors(
                index,
                lambda spec=spec, index=index: self._update(
                    spec, self.targets[index], owners[spec.owner_id], dry_run
                ),
            )
        if errors:
            raise RowErrors(sorted(errors, key=lambda e: e["row"]))
        return len(creates), len(updates)

    def _update(self, spec: AccountSpec, account: Account, owner: User, dry_run: bool) -> None:
        if spec.created_at is not None and spec.created_at != account.created_at:
            raise ValidationError(
                {"created_at": "An account's creation date is given only when it is created."}
            )
        fields = {
            "name": spec.name,
            "industry": spec.industry,
            "region": spec.region,
            "country": spec.country,
            "postcode": spec.postcode,
            "employee_count": spec.employee_count,
            "annual_revenue": spec.annual_revenue,
            "website": spec.website,
        }
        if dry_run:
            refusal = account_owner_refusal(by=self.by, owner=owner, account=account)
            if refusal:
                raise PermissionDenied(refusal)
            errors = account_values_errors(values=fields)
            if errors:
                raise ValidationError(errors)
            candidate = Account(**{**fields, "owner_id": owner.pk})
            candidate.clean_fields(exclude=["owner", "territory", "external_id"])
            return
        account_update(account=account, by=self.by, owner=owner, **fields)


class _ContactImporter(_Importer):
    what = "contacts"
    external_id_scope = "account"

    def __init__(self, by: User, job: ImportJob):
        super().__init__(by, job)
        self.accounts = _AccountLookup(by)

    def prepare(self, batch: list[_Row]) -> None:
        self.accounts.load({self.text(row, "account") for row in batch})
        given = {self.text(row, "external_id") for row in batch} - {""}
        # Unique per account: the row's account (one the importer can see) and the id name the contact.
        self.existing = {
            (c.account_id, c.external_id): c
            for c in contacts_visible_to(self.by)
            .select_related("account")
            .filter(external_id__in=given)
        }

    def read(self, row: _Row) -> "_ContactItem | None":
        account = self.accounts.find(row, self.text(row, "account"))
        if row.reasons:
            return None
        return _ContactItem(
            account=account,
            external_id=self.text(row, "external_id") or None,
            fields={
                name: self.text(row, name)
                for name in ("first_name", "last_name", "title", "email", "phone")
            },
        )

    def write(self, items: list["_ContactItem"], dry_run: bool) -> tuple[int, int]:
        errors: list[dict] = []
        created = updated = 0
        for index, item in enumerate(items):
            if item.external_id and (item.account.pk, item.external_id) in self.existing:
                updated += 1
                errors += _service_errors(index, lambda item=item: self._update(item, dry_run))
            else:
                created += 1
                errors += _service_errors(index, lambda item=item: self._create(item, dry_run))
        if errors:
            raise RowErrors(errors)
        return created, updated

    def _create(self, item: "_ContactItem", dry_run: bool) -> None:
        if not dry_run:
            contact_create(
                by=self.by, account=item.account, external_id=item.external_id, **item.fields
            )
            return
        refusal = contact_write_refusal(by=self.by, account=item.account)
        if refusal:
            raise PermissionDenied(refusal)
        errors = contact_account_errors(account=item.account)
        if errors:
            raise ValidationError(errors)
        Contact(account=item.account, **item.fields).clean_fields(
            exclude=["account", "external_id"]
        )

    def _update(self, item: "_ContactItem", dry_run: bool) -> None:
        contact = self.existing[(item.account.pk, item.external_id)]
        if not dry_run:
            contact_update(contact=contact, by=self.by, account=item.account, **item.fields)
            return
        for account in {contact.account, item.account}:
            refusal = contact_write_refusal(by=self.by, account=account)
            if refusal:
                raise PermissionDenied(refusal)
        Contact(account=item.account, **item.fields).clean_fields(
            exclude=["account", "external_id"]
        )


@dataclass
class _ContactItem:
    account: Account
    external_id: str | None
    fields: dict


def _service_errors(row: int, call: Callable[[], None]) -> list[dict]:
    """Run one row's service in a savepoint; its refusal as row errors (the savepoint undone)."""
    try:
        with transaction.atomic():
            call()
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            return [
                {"row": row, "field": name, "message": message}
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
        return [{"row": row, "field": "row", "message": m} for m in exc.messages]
    except PermissionDenied as exc:
        return [{"row": row, "field": "owner", "message": str(exc)}]
    return []


_IMPORTERS: dict[str, type[_Importer]] = {
    ImportKind.DEALS: _DealImporter,
    ImportKind.ACCOUNTS: _AccountImporter,
    ImportKind.CONTACTS: _ContactImporter,
}


def import_rejection_summary(
    job: ImportJob, *, dry_run: bool, limit: int = 100
) -> list[ImportRejection]:
    """The first ``limit`` rejected rows of a phase, for its report."""
    return list(job.rejections.filter(dry_run=dry_run).order_by("row")[:limit])
