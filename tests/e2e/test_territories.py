"""The territory pages in a real browser: an admin edits a rule, or moves a rep to another territory,
sees the preview, applies it and watches the realignment's progress until the accounts have moved and
their handovers are logged."""

from decimal import Decimal

import pytest

from pipeline.models import Account, Handover, TerritoryRealignment, TerritoryRule
from pipeline.services.territories import territory_rule_create
from pipeline.tasks import realign_territories
from quotas.services import territory_create, territory_update
from tests.factories import AccountFactory, DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def cast(transactional_db):
    boss = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    north_rep = UserFactory(username="rep1", manager=manager, full_name="Nora North")
    south_rep = UserFactory(username="rep2", manager=manager, full_name="Sam South")
    europe = territory_create(name="Europe", owner=manager, by=boss)
    north = territory_create(name="North", parent=europe, owner=manager, reps=[north_rep], by=boss)
    south = territory_create(name="South", parent=europe, reps=[south_rep], by=boss)
    rule = territory_rule_create(territory=north, by=boss, priority=5, countries=["DE"])
    account = AccountFactory(owner=south_rep, territory=south, name="Sudhaus", country="FR")
    DealFactory(
        owner=south_rep,
        account=account,
        pipeline=PipelineFactory(name="New business"),
        amount=Decimal("700.00"),
    )
    return {
        "admin": boss,
        "manager": manager,
        "north": north,
        "south": south,
        "rule": rule,
        "account": account,
        "north_rep": north_rep,
    }


@pytest.fixture
def queued_jobs(monkeypatch):
    """Jobs are queued, not run: the test plays the worker, so the page is seen polling first."""
    jobs = []

    def queue(job_id):
        jobs.append(job_id)
        return f"task-{job_id}"

    monkeypatch.setattr("reports.territories._queue_realignment", queue)
    return jobs


def test_an_admin_edits_a_rule_previews_applies_and_watches_the_progress(
    page, login, cast, queued_jobs, screenshot
):
    north, account = cast["north"], cast["account"]
    login(cast["admin"])
    page.get_by_role("link", name="Territories", exact=True).click()
    page.wait_for_url("**/territories/")
    tree = page.get_by_test_id("territory-tree")
    assert tree.locator("tbody tr").count() == 3
    screenshot("territory-tree")
    tree.get_by_role("link", name="North").click()
    page.wait_for_url(f"**/territories/{north.pk}/")
    assert page.get_by_test_id("territory-owner").inner_text() == "Morgan Manager"

    page.get_by_role("link", name=f"Edit rule {cast['rule'].pk}").click()
    countries = page.get_by_label("Countries")
    assert countries.input_value() == "DE"

    # A bad country is refused on its field and nothing is written.
    countries.fill("DE, XX")
    page.get_by_role("button", name="Preview").click()
    page.get_by_test_id("rule-errors").wait_for()
    page.locator(".field--error").filter(has_text="Unknown country code 'XX'").wait_for()
    assert list(TerritoryRule.objects.values_list("countries", flat=True)) == [["DE"]]

    page.get_by_label("Countries").fill("DE, FR")
    page.get_by_role("button", name="Preview").click()
    summary = page.get_by_test_id("preview-summary")
    summary.wait_for()
    assert summary.inner_text() == "1 account would move, with 1 open deal worth USD 700.00."
    moves = page.get_by_test_id("preview-moves").inner_text()
    assert "Sudhaus" in moves and "Sam South → Nora North" in moves
    assert list(TerritoryRule.objects.values_list("countries", flat=True)) == [["DE"]]
    screenshot("territory-preview")

    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**/territories/{north.pk}/?job=*")
    progress = page.locator("#realignment-progress")
    assert progress.get_attribute("data-status") == "queued"
    assert list(TerritoryRule.objects.values_list("countries", flat=True)) == [["DE", "FR"]]
    assert page.get_by_test_id("handover-log").count() == 0

    # The worker runs the job; the page, polling every second, follows it to the end.
    [job_id] = queued_jobs
    realign_territories(job_id)
    page.locator("#realignment-progress[data-status='done']").wait_for()
    assert page.get_by_test_id("realignment-count").inner_text() == "1 / 1"
    assert page.locator("progress.realignment__bar").get_attribute("value") == "1"

    log = page.get_by_test_id("handover-log")
    log.wait_for()
    row = log.locator("tbody tr").filter(has_text="Account Sudhaus")
    row.wait_for()
    assert "Sam South" in row.inner_text() and "Nora North" in row.inner_text()
    assert "Ada Admin" in row.inner_text()
    account.refresh_from_db()
    assert (account.territory_id, account.owner_id) == (north.pk, cast["north_rep"].pk)
    assert TerritoryRealignment.objects.get(pk=job_id).status == "done"
    assert Handover.objects.filter(account=account, deal__isnull=False).count() == 1
    assert Account.objects.filter(territory=north).count() == 1
    screenshot("territory-realigned")


def test_a_manager_reads_the_tree_and_a_territory_without_the_editor(page, login, cast):
    login(cast["manager"])
    page.get_by_role("link", name="Territories", exact=True).click()
    page.get_by_test_id("territory-tree").get_by_role("link", name="South").click()
    page.get_by_test_id("territory-members").filter(has_text="Sam South").wait_for()
    assert page.get_by_role("button", name="Preview").count() == 0
    assert page.get_by_role("link", name="Edit rule").count() == 0


def test_without_a_broker_the_apply_runs_at_once_and_the_page_shows_it_done(
    page, login, cast, monkeypatch
):
    # The embedded default (no REDIS_URL): Celery runs the job eagerly inside the Apply request.
    from salesmgr.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    login(cast["admin"])
    page.goto(f"/territories/{cast['north'].pk}/")
    page.get_by_label("Priority").fill("1")
    page.get_by_label("Countries").fill("FR")
    page.get_by_role("button", name="Preview").click()
    page.get_by_test_id("preview-summary").filter(has_text="1 account would move").wait_for()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**?job=*")
    assert page.locator("#realignment-progress").get_attribute("data-status") == "done"
    assert "Account Sudhaus" in page.get_by_test_id("handover-log").inner_text()
    rules = page.get_by_test_id("territory-rules").inner_text()
    assert "Country: DE" in rules and "Country: FR" in rules


def test_an_admin_moves_a_rep_previews_applies_and_watches_the_progress(
    page, login, cast, queued_jobs, screenshot
):
    north, south, north_rep = cast["north"], cast["south"], cast["north_rep"]
    stayer = UserFactory(username="rep3", manager=cast["manager"], full_name="Nell Next")
    territory_update(territory=north, by=cast["admin"], reps=[north_rep, stayer])
    account = AccountFactory(owner=north_rep, territory=north, name="Nordwind", country="DE")
    deal = DealFactory(
        owner=north_rep,
        account=account,
        pipeline=PipelineFactory(name="Renewals"),
        amount=Decimal("400.00"),
    )
    login(cast["admin"])
    page.goto(f"/territories/{north.pk}/")
    editor = page.locator("#members-editor")
    editor.get_by_label("What to do").select_option("move")
    editor.get_by_label("Rep", exact=True).select_option(label="Nora North (member)")

    # Without a territory to move to, the field says so and nothing is written.
    editor.get_by_role("button", name="Show what would move").click()
    page.get_by_test_id("members-errors").wait_for()
    page.locator("#members-editor .field--error").filter(has_text="Choose the territory").wait_for()
    assert sorted(north.reps.values_list("username", flat=True)) == ["rep1", "rep3"]

    editor = page.locator("#members-editor")
    editor.get_by_label("To territory").select_option(label="South")
    editor.get_by_role("button", name="Show what would move").click()
    preview = page.get_by_test_id("members-preview")
    preview.wait_for()
    assert "move Nora North from North to South" in preview.inner_text()
    summary = preview.get_by_test_id("preview-summary").inner_text()
    assert summary == "1 account would move, with 1 open deal worth USD 400.00."
    moves = preview.get_by_test_id("preview-moves").inner_text()
    assert "Nordwind" in moves and "Nora North → Nell Next" in moves
    assert sorted(south.reps.values_list("username", flat=True)) == ["rep2"]
    assert Handover.objects.count() == 0
    screenshot("territory-members-preview")

    preview.get_by_role("button", name="Confirm and realign").click()
    page.wait_for_url(f"**/territories/{north.pk}/?job=*")
    assert page.locator("#realignment-progress").get_attribute("data-status") == "queued"
    assert page.get_by_test_id("territory-members").inner_text() == "Nell Next"
    assert sorted(south.reps.values_list("username", flat=True)) == ["rep1", "rep2"]

    [job_id] = queued_jobs
    realign_territories(job_id)
    page.locator("#realignment-progress[data-status='done']").wait_for()
    assert page.get_by_test_id("realignment-count").inner_text() == "1 / 1"
    log = page.get_by_test_id("handover-log")
    log.wait_for()
    for what in ("Account Nordwind", f"Deal {deal.name} of Nordwind"):
        row = log.locator("tbody tr").filter(has_text=what)
        row.wait_for()
        text = row.inner_text()
        assert "Nora North" in text and "Nell Next" in text and "Ada Admin" in text
    account.refresh_from_db()
    deal.refresh_from_db()
    assert (account.territory_id, account.owner_id, deal.owner_id) == (
        north.pk,
        stayer.pk,
        stayer.pk,
    )
    screenshot("territory-members-realigned")


def test_a_manager_sees_no_members_editor(page, login, cast):
    login(cast["manager"])
    page.goto(f"/territories/{cast['north'].pk}/")
    page.get_by_test_id("territory-members").filter(has_text="Nora North").wait_for()
    assert page.locator("#members-editor").count() == 0
    assert page.get_by_role("button", name="Show what would move").count() == 0
