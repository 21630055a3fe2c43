"""Training in a real browser: a manager assigns a certification to the team, a rep completes it from
the home page, and the manager's matrix shows it done."""

import datetime

import pytest
from django.utils import timezone

from coaching.models import Assignment
from coaching.services import course_create
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e


def test_a_certification_goes_from_assigned_to_done(transactional_db, login, page, screenshot):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    UserFactory(username="robin", manager=manager, full_name="Robin Rep")
    cert = course_create(
        by=admin, title="Data protection", kind="certification", valid_for_days=365
    )
    course_create(by=admin, title="Product basics", required=True)
    today = timezone.localdate()

    login(manager)
    page.goto("/coaching/training/")
    matrix = page.get_by_test_id("training-matrix")
    assert "Riley Rep" in matrix.inner_text() and "Data protection" not in matrix.inner_text()
    form = page.locator("form[action$='/coaching/training/assign/']")
    form.get_by_label("Course").select_option(label="Data protection")
    form.get_by_label("The whole team").check()
    form.get_by_label("Due on").fill((today + datetime.timedelta(days=5)).isoformat())
    form.get_by_role("button", name="Assign").click()
    page.get_by_text("Data protection assigned to 2 people.").wait_for()
    row = page.get_by_test_id("training-matrix").locator("tr", has_text="Riley Rep")
    assert "Assigned" in row.inner_text()
    screenshot("training-manager-assigned")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")
    login(rep)
    due = page.get_by_test_id("home-training-due")
    assert "Data protection" in due.inner_text()
    due.get_by_role("button", name="Mark Data protection completed").click()
    page.locator("#home-training").get_by_text("No course due this week").wait_for()
    done = Assignment.objects.get(person=rep)
    assert done.completed_on == today
    assert done.expires_on == today + datetime.timedelta(days=365)
    screenshot("training-rep-home")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")
    login(manager)
    page.goto("/coaching/training/")
    row = page.get_by_test_id("training-matrix").locator("tr", has_text="Riley Rep")
    cell = row.locator(f"td[data-course='{cert.pk}']")
    assert cell.get_attribute("data-state") == "done"
    assert today.strftime("%-d %b %Y") in cell.inner_text()
    robin = page.get_by_test_id("training-matrix").locator("tr", has_text="Robin Rep")
    assert "Assigned" in robin.inner_text()
    page.set_viewport_size({"width": 412, "height": 900})
    screenshot("training-manager-matrix-412")
