"""Who may import what: admins for anyone, managers for their team, reps only their own deals;
only admins may date an imported record in the past."""

import datetime

import pytest
from django.utils import timezone

from pipeline.models import Account, Deal
from pipeline.services.import_jobs import import_check_start, import_job_create
from salesmgr.errors import PermissionDenied
from tests.factories import AccountFactory
from tests.pipeline.import_helpers import DEAL_HEADERS, csv_upload, imported, reasons

TEAM_ONLY = "owner: You can import deals only for yourself and your team."


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def accounts(rep, rep2, outsider):
    return {
        "rep": AccountFactory(owner=rep, name="Rep Account"),
        "rep2": AccountFactory(owner=rep2, name="Rep2 Account"),
        "outsider": AccountFactory(owner=outsider, name="Outsider Account"),
    }


def _row(n, owner, account, created=""):
    close = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    return [f"r-{n}", f"Deal {n}", account, owner, "Discovery", "100", "USD", close, created]


def _upload(rows):
    return csv_upload(rows, [*DEAL_HEADERS, "Created"])


def _import(user, rows):
    job = imported(user, _upload(rows))
    return job, reasons(job, dry_run=False)


def test_admin_imports_deals_for_anyone(admin, accounts, pipeline):
    job, refused = _import(
        admin,
        [_row(1, "rep", "Rep Account"), _row(2, "outsider@example.com", "Outsider Account")],
    )
    assert refused == {}
    assert set(Deal.objects.values_list("owner__username", flat=True)) == {"rep", "outsider"}


def test_manager_imports_for_the_team_and_not_for_another_team(manager, accounts, pipeline):
    job, refused = _import(
        manager,
        [
            _row(1, "rep", "Rep Account"),
            _row(2, "rep2", "Rep2 Account"),
            _row(3, "outsider", "Rep Account"),
        ],
    )
    assert job.created == 2
    assert refused == {4: TEAM_ONLY}


def test_sibling_manager_can_neither_own_nor_see_the_other_teams_records(
    other_manager, accounts, pipeline
):
    job, refused = _import(other_manager, [_row(1, "rep", "Rep Account")])
    assert job.created == 0
    assert TEAM_ONLY in refused[2]
    assert "account: No account 'Rep Account'" in refused[2]


def test_rep_imports_only_their_own_deals(rep, accounts, pipeline):
    job, refused = _import(
        rep,
        [_row(1, "", "Rep Account"), _row(2, "rep", "Rep Account"), _row(3, "rep2", "Rep Account")],
    )
    assert job.created == 2
    assert refused == {4: "owner: Reps import only their own deals."}
    assert set(Deal.objects.values_list("owner__username", flat=True)) == {"rep"}


def test_rep_may_not_import_accounts_or_contacts(rep):
    for kind in ("accounts", "contacts"):
        with pytest.raises(PermissionDenied):
            import_job_create(by=rep, kind=kind, upload=csv_upload([["x"]], ["Name"]))


def test_teammate_cannot_update_a_reps_deal_through_its_external_id(rep, rep2, accounts, pipeline):
    """External ids are unique per owner: the teammate's row opens their own deal, and learns
    nothing of (nor touches) the deal of the same id they cannot see."""
    _import(rep, [_row(1, "", "Rep Account")])
    job, refused = _import(rep2, [_row(1, "", "Rep2 Account")])
    assert (job.created, job.updated, refused) == (1, 0, {})
    deals = Deal.objects.order_by("pk")
    assert [(d.owner, d.account.name, d.external_id) for d in deals] == [
        (rep, "Rep Account", "r-1"),
        (rep2, "Rep2 Account", "r-1"),
    ]


def test_another_teams_rep_sees_none_of_the_teams_accounts(outsider, accounts, pipeline):
    job, refused = _import(outsider, [_row(1, "", "Rep Account")])
    assert "account: No account 'Rep Account'" in refused[2]


def test_only_the_uploader_runs_their_import(rep, rep2, manager, accounts, pipeline):
    job = import_job_create(by=rep, kind="deals", upload=_upload([_row(1, "", "Rep Account")]))
    for other in (rep2, manager):
        with pytest.raises(PermissionDenied):
            import_check_start(job=job, by=other, mapping=job.mapping)


@pytest.mark.parametrize("who", ["manager", "rep"])
def test_only_admins_may_give_a_creation_date_in_the_past(who, request, accounts, pipeline):
    user = request.getfixturevalue(who)
    job, refused = _import(user, [_row(1, "rep", "Rep Account", created="2025-01-15")])
    assert job.created == 0
    assert refused == {2: "created_at: Only admins may give a date in the past."}


def test_admin_may_date_a_deal_in_the_past_and_a_rerun_keeps_it(admin, accounts, pipeline):
    rows = [_row(1, "rep", "Rep Account", created="2025-01-15")]
    job, refused = _import(admin, rows)
    assert refused == {}
    deal = Deal.objects.get()
    assert deal.created_at.date() == datetime.date(2025, 1, 15)
    assert deal.transitions.get().at == deal.created_at
    job, refused = _import(admin, rows)
    assert (job.updated, refused) == (1, {})


def test_only_admins_may_date_an_account_in_the_past(manager, admin, rep):
    headers = ["Name", "Owner", "Created"]
    job = imported(manager, csv_upload([["Old Co", "rep", "2024-05-01"]], headers), kind="accounts")
    assert reasons(job, dry_run=False) == {
        2: "created_at: Only admins may give a date in the past."
    }
    job = imported(admin, csv_upload([["Old Co", "rep", "2024-05-01"]], headers), kind="accounts")
    assert Account.objects.get(name="Old Co").created_at.date() == datetime.date(2024, 5, 1)
