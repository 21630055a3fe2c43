"""The import pages: upload, mapping, dry run, run and the rejected rows, for each role."""

import datetime

import pytest
from django.utils import timezone

from pipeline.models import Deal, ImportJob, ImportStatus
from tests.factories import AccountFactory
from tests.pipeline.import_helpers import DEAL_HEADERS, csv_upload

ROLES = ["admin", "manager", "other_manager", "rep", "rep2", "outsider"]


@pytest.fixture(autouse=True)
def eager(settings, tmp_path, monkeypatch):
    """No worker in these tests: the task runs when it is queued, as in the embedded default."""
    from salesmgr.celery import app

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def acme(rep):
    return AccountFactory(owner=rep, name="Acme")


def _rows():
    close = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    return [
        ["d-1", "Good deal", "Acme", "rep", "Discovery", "500", "USD", close],
        ["d-2", "Bad deal", "Acme", "rep", "Signed", "500", "USD", close],
    ]


def _upload(client):
    response = client.post("/imports/", {"kind": "deals", "file": csv_upload(_rows())})
    assert response.status_code == 302, response.content
    return ImportJob.objects.latest("pk")


@pytest.mark.parametrize("role", ROLES)
def test_everyone_opens_the_import_page_in_a_fixed_number_of_queries(
    role, request, client, django_assert_max_num_queries
):
    user = request.getfixturevalue(role)
    client.force_login(user)
    with django_assert_max_num_queries(8):
        response = client.get("/imports/")
    assert response.status_code == 200
    kinds = [choice[0] for choice in response.context["form"].fields["kind"].choices]
    assert kinds == (["deals"] if user.is_rep else ["deals", "accounts", "contacts"])


def test_the_deals_and_accounts_lists_link_to_the_import(client, manager):
    client.force_login(manager)
    assert b'href="/imports/?kind=deals"' in client.get("/deals/").content
    assert b'href="/imports/?kind=accounts"' in client.get("/accounts/").content


def test_a_rep_uploads_checks_fixes_nothing_and_imports_the_good_row(
    client, rep, acme, pipeline, django_capture_on_commit_callbacks
):
    client.force_login(rep)
    job = _upload(client)
    page = client.get(f"/imports/{job.pk}/")
    assert page.status_code == 200
    assert b'<option value="Deal Stage" selected>' in page.content

    mapping = {f"map_{name}": header for name, header in job.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/imports/{job.pk}/check/", {**mapping, "day_first": "1"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created, job.rejected) == (ImportStatus.CHECKED, 1, 1)
    report = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Dry run: nothing was written" in report
    assert "No stage &#x27;Signed&#x27;" in report
    assert not Deal.objects.exists()

    download = client.get(f"/imports/{job.pk}/rejected.csv?phase=check")
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert lines[0] == ",".join([*DEAL_HEADERS, "row", "reasons"])
    assert lines[1].startswith("d-2,Bad deal,Acme,rep,Signed,")

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/imports/{job.pk}/run/").status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created, job.rejected) == (ImportStatus.DONE, 1, 1)
    assert list(Deal.objects.values_list("name", flat=True)) == ["Good deal"]
    progress = client.get(f"/imports/{job.pk}/progress/")
    assert progress["HX-Refresh"] == "true"


def test_a_mapping_without_a_required_column_answers_400_naming_it(client, rep, acme, pipeline):
    client.force_login(rep)
    job = _upload(client)
    mapping = {f"map_{name}": header for name, header in job.mapping.items()}
    response = client.post(f"/imports/{job.pk}/check/", {**mapping, "map_stage": ""})
    assert response.status_code == 400
    assert "Choose the column that holds the stage." in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_a_file_that_cannot_be_read_answers_400_naming_the_file(client, rep):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(rep)
    response = client.post("/imports/", {"kind": "deals", "file": SimpleUploadedFile("x.csv", b"")})
    assert response.status_code == 400
    assert response.context["form"].errors["file"]


def test_a_rep_asking_to_import_accounts_is_refused_on_the_form(client, rep):
    client.force_login(rep)
    response = client.post("/imports/", {"kind": "accounts", "file": csv_upload([["A"]], ["Name"])})
    assert response.status_code == 400
    assert "kind" in response.context["form"].errors


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("manager", 404), ("other_manager", 404), ("rep2", 404), ("outsider", 404)],
)
def test_an_import_is_seen_by_its_uploader_and_admins_only(
    role, status, request, client, rep, acme, pipeline
):
    client.force_login(rep)
    job = _upload(client)
    client.force_login(request.getfixturevalue(role))
    assert client.get(f"/imports/{job.pk}/").status_code == status
    assert client.get(f"/imports/{job.pk}/rejected.csv").status_code == status
    assert client.get(f"/imports/{job.pk}/progress/").status_code == status
    expected = 403 if status == 200 else 404  # an admin sees it but only the uploader runs it
    mapping = {f"map_{name}": header for name, header in job.mapping.items()}
    assert client.post(f"/imports/{job.pk}/check/", mapping).status_code == expected


def test_the_list_shows_your_own_imports_and_admins_everyones(
    client, rep, rep2, admin, acme, pipeline
):
    client.force_login(rep)
    job = _upload(client)
    client.force_login(rep2)
    assert job not in client.get("/imports/").context["jobs"]
    client.force_login(admin)
    assert job in client.get("/imports/").context["jobs"]
