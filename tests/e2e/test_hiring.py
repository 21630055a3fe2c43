"""Hiring in a real browser: a manager rejects an applicant through the board's dialog, drags another
to Hired, and sees the new rep's temporary password and ramped quota on the applicant's page."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from coaching.hiring_capacity import month_starts
from coaching.models import Applicant
from coaching.services import applicant_add, applicant_move, position_create
from quotas.models import Quota
from quotas.services import quota_set
from tests.e2e.conftest import draw_charts, htmx_swap
from tests.e2e.test_csp import LISTEN, _violations
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e


def _world():
    manager = UserFactory(username="mona", role="manager", full_name="Mona Manager")
    rep = UserFactory(username="rita", manager=manager, full_name="Rita Rep")
    today = timezone.localdate()
    for first in month_starts(today.replace(day=1).replace(year=today.year - 1), 12):
        last = month_starts(first, 2)[1] - datetime.timedelta(days=1)
        quota_set(owner=rep, period_start=first, period_end=last, target=Decimal("12000"))
    position = position_create(
        by=manager,
        title="Account executive",
        start_wanted=today + datetime.timedelta(days=10),
    )
    offer = applicant_add(by=manager, position=position, full_name="Olga Offer")
    offer = applicant_move(by=manager, applicant=offer, stage="offer").applicant
    applied = applicant_add(by=manager, position=position, full_name="Ann Applied")
    return manager, position, offer, applied


def _column(stage: str) -> str:
    return f'[data-column][data-stage="{stage}"] [data-dropzone]'


def test_a_manager_hires_from_the_board_and_sees_the_ramped_quota(
    transactional_db, login, screenshot
):
    manager, position, offer, applied = _world()
    page = login(manager)
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Coaching").click()
    page.get_by_role("link", name="Hiring").click()
    page.wait_for_url("**/coaching/hiring/")
    page.get_by_role("link", name="Applicant board").click()
    page.wait_for_url("**/coaching/hiring/board/")
    screenshot("hiring-board")

    # Rejecting asks for the reason first.
    page.drag_and_drop(f"#applicant-{applied.pk}", _column("rejected"))
    dialog = page.locator("#lost-dialog")
    dialog.get_by_label("Reason").select_option("withdrew")
    dialog.get_by_role("button", name="Reject").click()
    status = page.locator("#board-status")
    status.get_by_text("Moved Ann Applied to Rejected.").wait_for()
    assert page.locator(_column("rejected")).locator(f"#applicant-{applied.pk}").count() == 1
    assert Applicant.objects.get(pk=applied.pk).rejection_reason == "withdrew"

    # Dragging to Hired makes the new rep.
    page.drag_and_drop(f"#applicant-{offer.pk}", _column("hired"))
    status.get_by_text("Hired Olga Offer as olga.offer", exact=False).wait_for()
    assert page.locator(_column("hired")).locator(f"#applicant-{offer.pk}").count() == 1

    page.locator(f"#applicant-{offer.pk}").get_by_role("link", name="Olga Offer").click()
    page.wait_for_url(f"**/coaching/hiring/applicants/{offer.pk}/")
    assert page.get_by_test_id("temporary-password").is_visible()
    assert page.get_by_test_id("new-rep-username").inner_text() == "olga.offer"
    quota = page.get_by_test_id("ramped-quota")
    rows = quota.locator("tbody tr")
    assert rows.count() == 12
    # The team's standard quota is 12,000: 25%, 50%, 75%, then 100%.
    assert [rows.nth(i).locator("td").inner_text() for i in range(5)] == [
        "3,000", "6,000", "9,000", "12,000", "12,000"
    ]  # fmt: skip
    screenshot("hiring-new-rep")
    assert Quota.objects.filter(owner__username="olga.offer").count() == 12
    position.refresh_from_db()
    assert position.status == "filled"


def test_the_capacity_plan_draws_its_chart_and_opens_the_gap_under_the_policy(
    transactional_db, login, page
):
    manager, position, offer, applied = _world()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(f"({LISTEN})()")
    login(manager)
    page.goto("/coaching/hiring/capacity/")
    page.get_by_label("Annual target (empty: from quotas)").fill("576000")
    page.get_by_label("Attainment % (empty: history)").fill("100")
    page.get_by_label("Attrition, % a year").fill("0")
    page.get_by_role("button", name="Plan").click()
    page.wait_for_url("**/coaching/hiring/capacity/?*")
    draw_charts(page)
    assert page.locator("#chart-capacity svg.main-svg").count() >= 1
    # 48,000 a month / 12,000 = 4 reps; 1 on the team: 3 new, one position already open.
    assert (
        page.get_by_test_id("capacity-summary").locator('[data-figure="gap"]').inner_text() == "2"
    )
    page.get_by_role("button", name="Open 2 positions").click()
    page.wait_for_url("**/coaching/hiring/positions/")
    assert page.get_by_test_id("positions").locator("tbody tr").count() == 3
    assert _violations(page, console) == []


def test_load_more_brings_older_applicants_that_move_like_the_rest(transactional_db, login):
    manager, position, offer, applied = _world()
    older = [
        applicant_add(by=manager, position=position, full_name=f"Crowd {i:02d}") for i in range(26)
    ]
    oldest = older[0]
    # The board shows the latest moved first: push the first crowd member behind "Load more".
    Applicant.objects.filter(pk=oldest.pk).update(
        stage_changed_at=timezone.now() - datetime.timedelta(days=30)
    )
    page = login(manager)
    page.goto("/coaching/hiring/board/")
    column = page.locator(_column("applied"))
    assert column.locator(f"#applicant-{oldest.pk}").count() == 0
    with htmx_swap(page):
        column.get_by_role("link", name="Load more applicants in Applied").click()
    assert column.locator(f"#applicant-{oldest.pk}").count() == 1
    assert column.get_by_role("link", name="Load more applicants in Applied").count() == 0
    page.drag_and_drop(f"#applicant-{oldest.pk}", _column("screen"))
    page.locator("#board-status").get_by_text("Moved Crowd 00 to Screen.").wait_for()
    assert Applicant.objects.get(pk=oldest.pk).stage == "screen"
