"""Importing deals in a real browser: a rep uploads a CSV with a bad row, reads the dry run's report,
fixes the file, uploads it again (the columns are remembered), checks it and imports it while the
page shows the progress."""

import csv
import datetime
import io

import pytest
from django.utils import timezone

from pipeline.models import Deal, ImportJob
from pipeline.tasks import run_import
from tests.factories import AccountFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def cast(transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="rep1", manager=manager, full_name="Riley Rep")
    PipelineFactory(name="New business")
    AccountFactory(owner=rep, name="Acme GmbH")
    return {"rep": rep}


@pytest.fixture
def queued_jobs(monkeypatch):
    """Jobs are queued, not run: the test plays the worker, so the page is seen polling first."""
    jobs = []

    def queue(job_id):
        jobs.append(job_id)
        return f"task-{job_id}"

    monkeypatch.setattr("pipeline.views.imports.queue_import", queue)
    return jobs


def _csv(stage_of_second_row: str) -> dict:
    close = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Deal ID", "Deal Name", "Company", "Deal Stage", "Amount", "Close Date"])
    writer.writerow(["hs-1", "Acme renewal", "Acme GmbH", "Discovery", "1200", close])
    writer.writerow(["hs-2", "Acme upsell", "Acme GmbH", stage_of_second_row, "800", close])
    return {"name": "deals.csv", "mimeType": "text/csv", "buffer": buffer.getvalue().encode()}


def _work(page, jobs, selector: str) -> None:
    """Run the queued job as the worker would, and wait for the page to show its end."""
    page.locator("#import-progress").wait_for()
    run_import(jobs.pop())
    page.locator(selector).wait_for()


def test_a_rep_imports_a_csv_with_a_bad_row_fixes_it_and_imports_it(
    page, login, cast, queued_jobs, screenshot
):
    login(cast["rep"])
    page.goto("/deals/")
    page.get_by_role("link", name="Import").click()
    page.wait_for_url("**/imports/?kind=deals")
    page.get_by_label("CSV or XLSX file").set_input_files(_csv("Signed"))
    page.get_by_role("button", name="Upload").click()

    # The columns are guessed from the headers.
    assert page.get_by_label("Deal name").input_value() == "Deal Name"
    assert page.get_by_label("Account").input_value() == "Company"
    assert page.get_by_label("Stage").input_value() == "Deal Stage"
    page.get_by_role("button", name="Check the file (dry run)").click()
    _work(page, queued_jobs, "[data-testid=dry-run-report]")

    report = page.get_by_test_id("dry-run-report")
    assert "1 new" in report.inner_text() and "1 rejected" in report.inner_text()
    rejected = page.get_by_test_id("rejected-rows")
    assert "3" in rejected.locator("td").first.inner_text()
    assert "No stage 'Signed'" in rejected.inner_text()
    with page.expect_download() as download:
        page.get_by_test_id("rejected-download").click()
    assert "hs-2,Acme upsell,Acme GmbH,Signed" in download.value.path().read_text()
    assert not Deal.objects.exists()
    screenshot("import-dry-run")

    page.get_by_role("link", name="Upload a fixed file").click()
    page.get_by_label("CSV or XLSX file").set_input_files(_csv("Proposal"))
    page.get_by_role("button", name="Upload").click()
    assert page.get_by_label("Stage").input_value() == "Deal Stage"  # remembered
    page.get_by_role("button", name="Check the file (dry run)").click()
    _work(page, queued_jobs, "[data-testid=dry-run-report]")
    assert "Every row can be imported." in page.get_by_test_id("dry-run-report").inner_text()

    page.get_by_role("button", name="Import 2 rows").click()
    _work(page, queued_jobs, "[data-testid=import-result]")
    assert "2 created" in page.get_by_test_id("import-result").inner_text()
    assert sorted(Deal.objects.values_list("external_id", "stage__name")) == [
        ("hs-1", "Discovery"),
        ("hs-2", "Proposal"),
    ]
    assert ImportJob.objects.count() == 2
    screenshot("import-done")
