"""A session that ends while a page is open: its next HTMX request opens the login page as a whole page."""

import re

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.e2e


def test_an_htmx_request_after_the_session_ended_opens_the_login_page(transactional_db, login):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    UserFactory(username="riley", manager=manager)
    page = login(manager)
    page.goto("/dashboard/?period=90d")

    page.context.clear_cookies(name="sessionid")
    page.get_by_role("button", name="Refresh figures").click()

    page.wait_for_url(re.compile(r"/login/\?next="))
    assert "next=%2Fdashboard%2F%3Fperiod%3D90d" in page.url
    assert page.locator("#refresh-status form, #refresh-status input").count() == 0
    assert page.get_by_label("Password").is_visible()
