"""Importing deals from a spreadsheet: the dry run, bad rows, the re-run that updates, and XLSX."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline.models import Deal, DealLineItem, ImportMapping, ImportStatus, StageTransition
from pipeline.services.import_jobs import (
    import_check_start,
    import_job_create,
    import_rejections_csv,
    import_run_start,
)
from pipeline.services.imports.sheets import mapping_guess
from tests.factories import AccountFactory, LostReasonFactory, ProductFactory
from tests.pipeline.import_helpers import (
    DEAL_HEADERS,
    checked,
    csv_upload,
    imported,
    reasons,
    xlsx_upload,
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def acme(rep):
    return AccountFactory(owner=rep, name="Acme GmbH")


def _close() -> str:
    return (timezone.localdate() + datetime.timedelta(days=40)).isoformat()


def _rows(count=3, owner="rep"):
    return [
        [f"crm-{n}", f"Deal {n}", "Acme GmbH", owner, "Discovery", "1,200.50", "EUR", _close()]
        for n in range(1, count + 1)
    ]


def test_the_mapping_is_guessed_from_other_crms_headers():
    headers = ["Record ID", "Opportunity Name", "Account Name", "Opportunity Owner", "Stage", "Amount", "Close Date"]  # fmt: skip
    assert mapping_guess("deals", headers) == {
        "external_id": "Record ID",
        "name": "Opportunity Name",
        "account": "Account Name",
        "owner": "Opportunity Owner",
        "stage": "Stage",
        "amount": "Amount",
        "expected_close_date": "Close Date",
    }


def test_the_mapping_is_remembered_per_person_and_kind(rep, acme, pipeline):
    job = import_job_create(by=rep, kind="deals", upload=csv_upload(_rows(1)))
    mapping = {**job.mapping, "currency": ""}  # the person leaves the currency out
    import_check_start(job=job, by=rep, mapping=mapping)
    assert ImportMapping.objects.get(user=rep, kind="deals").mapping["currency"] == ""
    again = import_job_create(by=rep, kind="deals", upload=csv_upload(_rows(1)))
    assert "currency" not in again.mapping
    assert again.mapping["name"] == "Deal Name"


def test_a_required_field_without_a_column_is_refused_by_name(rep, acme, pipeline):
    job = import_job_create(by=rep, kind="deals", upload=csv_upload(_rows(1)))
    with pytest.raises(ValidationError) as refused:
        import_check_start(job=job, by=rep, mapping={**job.mapping, "stage": ""})
    assert "stage" in refused.value.message_dict


def test_the_dry_run_writes_nothing_and_counts_what_would_be_written(rep, acme, pipeline):
    job = checked(rep, csv_upload(_rows(3)))
    assert job.status == ImportStatus.CHECKED
    assert (job.total, job.done, job.created, job.updated, job.rejected) == (3, 3, 3, 0, 0)
    assert not Deal.objects.exists()


def test_the_dry_run_reports_every_bad_row_by_number_and_reason(rep, acme, pipeline):
    rows = _rows(7)
    rows[0][3] = "nobody@example.com"  # row 2: unknown owner
    rows[1][4] = "Signed"  # row 3: unknown stage
    rows[2][7] = "31/02/2026"  # row 4: a date that does not exist
    rows[3][0] = rows[1][0]  # row 5: the external id of row 3 (the same owner's) again
    rows[4][2] = "Nobody Inc"  # row 6: unknown account
    rows[5][5] = "12.345"  # row 7: not money
    job = checked(rep, csv_upload(rows))
    found = reasons(job, dry_run=True)
    assert sorted(found) == [2, 3, 4, 5, 6, 7]
    assert "owner: No user with the username or e-mail 'nobody@example.com'." in found[2]
    assert "stage: No stage 'Signed'" in found[3]
    assert "expected_close_date: Cannot read the expected close date '31/02/2026'" in found[4]
    assert "appears on an earlier row" in found[5]
    assert "account: No account 'Nobody Inc'" in found[6]
    assert "amount:" in found[7]
    assert (job.created, job.rejected) == (1, 6)
    assert not Deal.objects.exists()


def test_a_service_refusal_names_the_row_and_the_other_rows_still_pass(rep, acme, pipeline):
    rows = _rows(3)
    rows[1][1] = ""  # a deal needs a name: the service says so
    job = checked(rep, csv_upload(rows))
    assert list(reasons(job, dry_run=True)) == [3]
    assert "name:" in reasons(job, dry_run=True)[3]
    assert job.created == 2


def test_a_run_writes_the_good_rows_and_keeps_the_rejected_ones_to_download(rep, acme, pipeline):
    rows = _rows(3)
    rows[2][4] = "Signed"
    job = imported(rep, csv_upload(rows))
    assert job.status == ImportStatus.DONE
    assert (job.created, job.updated, job.rejected) == (2, 0, 1)
    deal = Deal.objects.get(external_id="crm-1")
    assert (deal.owner, deal.account, deal.stage.name) == (rep, acme, "Discovery")
    assert (deal.amount, deal.currency) == (Decimal("1200.50"), "EUR")
    assert StageTransition.objects.filter(deal=deal).count() == 1
    lines = "".join(import_rejections_csv(job, dry_run=False)).splitlines()
    assert lines[0] == ",".join([*DEAL_HEADERS, "row", "reasons"])
    assert lines[1].startswith("crm-3,Deal 3,Acme GmbH,rep,Signed,") and ",4," in lines[1]


def test_a_second_run_of_the_same_file_updates_rather_than_duplicates(rep, acme, pipeline):
    imported(rep, csv_upload(_rows(3)))
    versions = dict(Deal.objects.values_list("external_id", "version"))
    rows = _rows(3)
    rows[0][4] = "Proposal"
    rows[1][5] = "999"
    job = imported(rep, csv_upload(rows))
    assert (job.created, job.updated, job.rejected) == (0, 3, 0)
    assert Deal.objects.count() == 3
    assert Deal.objects.get(external_id="crm-1").stage.name == "Proposal"
    assert Deal.objects.get(external_id="crm-2").amount == Decimal("999.00")
    assert Deal.objects.get(external_id="crm-3").version == versions["crm-3"]  # unchanged
    assert StageTransition.objects.filter(deal__external_id="crm-1").count() == 2


def test_products_become_line_items_and_give_the_amount(rep, acme, pipeline):
    ProductFactory(sku="SEAT", name="Seat licence", unit_price=Decimal("50.00"))
    ProductFactory(sku="SETUP", name="Setup", unit_price=Decimal("500.00"))
    headers = [*DEAL_HEADERS, "Products"]
    rows = [[*row, "SEAT*10; setup"] for row in _rows(1)]
    rows[0][5] = ""
    job = imported(rep, csv_upload(rows, headers))
    assert job.created == 1, reasons(job, dry_run=False)
    deal = Deal.objects.get()
    assert deal.amount == Decimal("1000.00")
    assert DealLineItem.objects.filter(deal=deal).count() == 2


def test_a_lost_deal_needs_its_reason_by_name(rep, acme, pipeline):
    LostReasonFactory(name="Price")
    headers = [*DEAL_HEADERS, "Lost Reason"]
    rows = [[*row, reason] for row, reason in zip(_rows(2), ["Price", ""], strict=True)]
    for row in rows:
        row[4] = "Lost"
    job = imported(rep, csv_upload(rows, headers))
    assert job.created == 1
    assert "lost_reason" in reasons(job, dry_run=False)[3]


def test_an_xlsx_workbook_is_read_with_its_dates_and_numbers(rep, acme, pipeline):
    close = timezone.localdate() + datetime.timedelta(days=20)
    rows = [["x-1", "From Excel", "Acme GmbH", "rep@example.com", "Proposal", 1500.5, "usd", close]]
    job = imported(rep, xlsx_upload(rows))
    assert job.created == 1, reasons(job, dry_run=False)
    deal = Deal.objects.get()
    assert (deal.amount, deal.currency, deal.expected_close_date) == (
        Decimal("1500.50"),
        "USD",
        close,
    )


def test_slashed_dates_follow_the_chosen_order(rep, acme, pipeline):
    close = timezone.localdate() + datetime.timedelta(days=60)
    rows = _rows(1)
    rows[0][7] = close.strftime("%m/%d/%Y")
    job = imported(rep, csv_upload(rows), day_first=False)
    assert Deal.objects.get().expected_close_date == close, reasons(job, dry_run=False)


def test_a_file_that_is_not_a_spreadsheet_is_refused_naming_the_file(rep):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(ValidationError) as refused:
        import_job_create(by=rep, kind="deals", upload=SimpleUploadedFile("x.xlsx", b"not a zip"))
    assert "file" in refused.value.message_dict


def test_a_run_in_slices_stops_after_a_batch_and_the_next_slice_carries_on(
    rep, acme, pipeline, settings
):
    from pipeline.services.import_jobs import import_job_run

    settings.IMPORT_BATCH_ROWS = 2
    job = checked(rep, csv_upload(_rows(5)))
    import_run_start(job=job, by=rep)
    first = import_job_run(job_id=job.pk, seconds=0)
    assert (first.status, first.done, first.created) == (ImportStatus.RUNNING, 2, 2)
    second = import_job_run(job_id=job.pk)
    assert (second.status, second.done, second.created) == (ImportStatus.DONE, 5, 5)
    assert Deal.objects.count() == 5
