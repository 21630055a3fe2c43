"""Quotas over REST: admins change them, managers read their team's, reps their own; uploads are all or none."""

import datetime
from decimal import Decimal

import pytest

from quotas.models import Quota
from quotas.services import quota_set

QUOTAS = "/api/v1/quotas/"
BULK = "/api/v1/quotas/bulk/"
MAY = (datetime.date(2026, 5, 1), datetime.date(2026, 5, 31))


@pytest.fixture
def quotas(manager, rep, rep2, outsider):
    return {
        person.username: quota_set(
            owner=person, period_start=MAY[0], period_end=MAY[1], target=Decimal(target)
        )
        for person, target in ((manager, "9000"), (rep, "1000"), (rep2, "2000"), (outsider, "4000"))
    }


def _owners(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["owner_name"] for row in response.json()["results"]}


def test_each_role_reads_the_quotas_it_may_see(client_for, admin, manager, rep, outsider, quotas):
    assert _owners(client_for(admin).get(QUOTAS)) == {
        "Morgan Manager",
        "Riley Rep",
        "Robin Rep",
        "Olive Outsider",
    }
    assert _owners(client_for(manager).get(QUOTAS)) == {"Morgan Manager", "Riley Rep", "Robin Rep"}
    assert _owners(client_for(rep).get(QUOTAS)) == {"Riley Rep"}
    assert _owners(client_for(outsider).get(QUOTAS)) == {"Olive Outsider"}
    assert client_for(outsider).get(f"{QUOTAS}{quotas['rep'].pk}/").status_code == 404
    assert client_for(rep).get(f"{QUOTAS}{quotas['rep2'].pk}/").status_code == 404
    assert client_for(manager).get(f"{QUOTAS}{quotas['rep2'].pk}/").status_code == 200


def test_only_admins_change_quotas(client_for, admin, manager, rep, quotas):
    body = {
        "owner": rep.pk,
        "period": "month",
        "period_start": "2026-06-01",
        "period_end": "2026-06-30",
        "target": "1500.00",
    }
    for user in (manager, rep):
        assert client_for(user).post(QUOTAS, body, format="json").status_code == 403
        assert (
            client_for(user)
            .patch(f"{QUOTAS}{quotas['rep'].pk}/", {"target": "1.00"}, format="json")
            .status_code
            == 403
        )
        assert client_for(user).delete(f"{QUOTAS}{quotas['rep'].pk}/").status_code == 403
        assert (
            client_for(user)
            .post(
                BULK,
                {
                    "rows": [
                        {
                            "owner": "rep",
                            "period_start": "2026-07-01",
                            "period": "month",
                            "target": "1",
                        }
                    ]
                },
                format="json",
            )
            .status_code
            == 403
        )
    created = client_for(admin).post(QUOTAS, body, format="json")
    assert created.status_code == 201, created.content
    updated = client_for(admin).patch(
        f"{QUOTAS}{created.json()['id']}/", {"target": "1750.00"}, format="json"
    )
    assert updated.json()["target"] == "1750.00"
    assert client_for(admin).delete(f"{QUOTAS}{created.json()['id']}/").status_code == 204
    assert Quota.objects.count() == 4


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": "-1.00"}, "target"),
        ({"target": 100}, "target"),
        ({"period_end": "2026-04-01"}, "period_end"),
        ({"period_start": "2026-05-15", "period_end": "2026-06-15"}, "period_start"),
        ({"period_start": "not a date"}, "period_start"),
        ({"owner": 987654}, "owner"),
        ({"period": "fortnight"}, "period"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    client_for, admin, rep, quotas, change, field
):
    body = {
        "owner": rep.pk,
        "period": "month",
        "period_start": "2026-06-01",
        "period_end": "2026-06-30",
        "target": "1500.00",
    }
    response = client_for(admin).post(QUOTAS, {**body, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Quota.objects.count() == 4


def test_an_overlap_names_the_quota_it_overlaps(client_for, admin, rep, quotas):
    body = {
        "owner": rep.pk,
        "period": "custom",
        "period_start": "2026-05-20",
        "period_end": "2026-06-10",
        "target": "1.00",
    }
    response = client_for(admin).post(QUOTAS, body, format="json")
    assert response.json()["period_start"] == [
        "Riley Rep already has a quota for 2026-05-01 to 2026-05-31, which overlaps this period."
    ]


def test_a_manager_cannot_see_quotas_of_another_team_in_any_page_size(
    client_for, manager, quotas, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        assert len(client_for(manager).get(QUOTAS, {"page_size": 200}).json()["results"]) == 3


def test_the_quota_list_costs_the_same_queries_whatever_its_length(
    client_for, admin, rep, quotas, django_assert_num_queries
):
    client = client_for(admin)
    client.get(QUOTAS)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(QUOTAS)
    for month in range(6, 12):
        first = datetime.date(2026, month, 1)
        quota_set(
            owner=rep,
            period_start=first,
            period_end=(first + datetime.timedelta(days=32)).replace(day=1)
            - datetime.timedelta(days=1),
            target=Decimal("5"),
        )
    with django_assert_num_queries(len(few)):
        client.get(QUOTAS)


# Uploads.

ROWS = [
    {"owner": "rep", "period_start": "2026-06-01", "period": "month", "target": "1200.00"},
    {
        "owner": "rep2@example.com",
        "period_start": "2026-07-01",
        "period": "quarter",
        "target": "6000",
    },
    {"owner": "rep", "period_start": "2026-05-01", "period_end": "2026-05-31", "target": "1100.00"},
]


def test_a_dry_run_checks_every_row_and_writes_nothing(client_for, admin, quotas):
    response = client_for(admin).post(BULK, {"rows": ROWS, "dry_run": True}, format="json")
    assert response.json() == {"rows": 3, "created": 2, "updated": 1, "dry_run": True}
    assert Quota.objects.count() == 4


def test_an_upload_writes_every_row_and_replaces_a_quota_over_the_same_period(
    client_for, admin, rep, rep2, quotas
):
    response = client_for(admin).post(BULK, {"rows": ROWS}, format="json")
    assert response.json() == {"rows": 3, "created": 2, "updated": 1, "dry_run": False}
    assert Quota.objects.get(owner=rep, period_start="2026-05-01").target == Decimal("1100.00")
    quarter = Quota.objects.get(owner=rep2, period_start="2026-07-01")
    assert (quarter.period_end, quarter.period) == (datetime.date(2026, 9, 30), "quarter")


def test_an_upload_with_a_bad_row_reports_each_by_number_and_writes_nothing(
    client_for, admin, quotas
):
    rows = [
        *ROWS,
        {"owner": "nobody", "period_start": "2026-06-01", "period": "month", "target": "1"},
        {"owner": "rep", "period_start": "2026-06-15", "period_end": "2026-06-20", "target": "1"},
        {"owner": "rep2", "period_start": "2026-13-01", "period": "month", "target": "x"},
        {"owner": "rep2", "period_start": "2026-10-01", "target": "-5"},
        {"owner": "rep", "period_start": "2026-05-10", "period": "month", "target": "5"},
    ]
    response = client_for(admin).post(BULK, {"rows": rows}, format="json")
    assert response.status_code == 400
    errors = [(e["row"], e["field"]) for e in response.json()["errors"]]
    assert errors == [
        (4, "owner"),
        (5, "period_start"),
        (6, "period_start"),
        (6, "target"),
        (7, "period_end"),
        (7, "target"),
        (8, "period_start"),
    ]
    messages = {e["row"]: e["message"] for e in response.json()["errors"]}
    assert (
        messages[5]
        == "Riley Rep already has a quota for 2026-06-01 to 2026-06-30 (row 1 of this upload), which overlaps this period."
    )
    assert (
        messages[8]
        == "Riley Rep already has a quota for 2026-05-01 to 2026-05-31, which overlaps this period."
    )
    assert Quota.objects.count() == 4


@pytest.mark.parametrize(
    "body",
    [{}, {"rows": []}, {"rows": "x"}, {"rows": [{"owner": 5}]}, {"rows": ROWS, "dry_run": "yes"}],
)
def test_a_malformed_upload_is_a_400(client_for, admin, quotas, body):
    assert client_for(admin).post(BULK, body, format="json").status_code == 400
    assert Quota.objects.count() == 4
