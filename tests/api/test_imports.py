"""``/api/v1/imports/``: upload, dry run, run and rejected rows, for each role."""

import datetime

import pytest
from django.utils import timezone

from pipeline.models import Deal
from tests.factories import AccountFactory
from tests.pipeline.import_helpers import csv_upload


@pytest.fixture(autouse=True)
def eager(settings, tmp_path, monkeypatch):
    from salesmgr.celery import app

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def acme(rep):
    return AccountFactory(owner=rep, name="Acme")


def _file():
    close = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    return csv_upload(
        [
            ["a-1", "Good", "Acme", "rep", "Discovery", "100", "USD", close],
            ["a-2", "Bad", "Acme", "rep2", "Discovery", "100", "USD", close],
        ]
    )


def _upload(client):
    response = client.post(
        "/api/v1/imports/", {"kind": "deals", "file": _file()}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_rep_uploads_checks_and_runs_an_import(
    client_for, rep, rep2, acme, pipeline, django_capture_on_commit_callbacks
):
    client = client_for(rep)
    job = _upload(client)
    assert (job["status"], job["total"], job["mapping"]["stage"]) == ("uploaded", 2, "Deal Stage")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/imports/{job['id']}/check/", {"mapping": job["mapping"]}, format="json"
        )
    assert response.status_code == 202
    job = client.get(f"/api/v1/imports/{job['id']}/").json()
    assert (job["status"], job["created"], job["rejected"]) == ("checked", 1, 1)
    rejections = client.get(f"/api/v1/imports/{job['id']}/rejections/?phase=check").json()
    assert rejections == [
        {
            "row": 3,
            "reasons": "owner: Reps import only their own deals.",
            "values": [
                "a-2",
                "Bad",
                "Acme",
                "rep2",
                "Discovery",
                "100",
                "USD",
                rejections[0]["values"][7],
            ],
        }
    ]
    assert not Deal.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/imports/{job['id']}/run/").status_code == 202
    job = client.get(f"/api/v1/imports/{job['id']}/").json()
    assert (job["status"], job["created"], job["rejected"]) == ("done", 1, 1)
    assert Deal.objects.get().external_id == "a-1"


def test_a_run_before_the_dry_run_is_refused(client_for, rep, acme, pipeline):
    client = client_for(rep)
    job = _upload(client)
    response = client.post(f"/api/v1/imports/{job['id']}/run/")
    assert response.status_code == 400


def test_a_mapping_missing_a_required_field_answers_400_naming_it(client_for, rep, acme, pipeline):
    client = client_for(rep)
    job = _upload(client)
    mapping = {**job["mapping"], "stage": ""}
    response = client.post(
        f"/api/v1/imports/{job['id']}/check/", {"mapping": mapping}, format="json"
    )
    assert response.status_code == 400
    assert "stage" in response.json()


def test_a_bad_file_answers_400_naming_the_file(client_for, rep):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(rep).post(
        "/api/v1/imports/",
        {"kind": "deals", "file": SimpleUploadedFile("a.pdf", b"%PDF")},
        format="multipart",
    )
    assert response.status_code == 400
    assert "file" in response.json()


def test_a_rep_may_not_import_accounts(client_for, rep):
    response = client_for(rep).post(
        "/api/v1/imports/",
        {"kind": "accounts", "file": csv_upload([["A"]], ["Name"])},
        format="multipart",
    )
    assert response.status_code == 403


def test_signed_out_gets_401(client_for):
    assert client_for(None).get("/api/v1/imports/").status_code == 401


@pytest.mark.parametrize(
    ("role", "reads", "runs"),
    [
        ("admin", 200, 403),
        ("manager", 404, 404),
        ("other_manager", 404, 404),
        ("rep2", 404, 404),
        ("outsider", 404, 404),
    ],
)
def test_an_import_is_read_by_its_uploader_and_admins_and_run_by_its_uploader(
    role, reads, runs, request, client_for, rep, acme, pipeline
):
    job = _upload(client_for(rep))
    client = client_for(request.getfixturevalue(role))
    assert client.get(f"/api/v1/imports/{job['id']}/").status_code == reads
    assert client.get(f"/api/v1/imports/{job['id']}/rejections/").status_code == reads
    response = client.post(
        f"/api/v1/imports/{job['id']}/check/", {"mapping": job["mapping"]}, format="json"
    )
    assert response.status_code == runs
    listed = [j["id"] for j in client.get("/api/v1/imports/").json()["results"]]
    assert (job["id"] in listed) is (reads == 200)
