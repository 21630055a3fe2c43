"""The site menu's Coaching entry in a real browser: a disclosure opened and walked with the keyboard,
closed with Escape, and without JavaScript a link to the coaching hub."""

import pytest

from coaching.sections import SECTIONS
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.e2e


def test_the_coaching_menu_opens_and_navigates_with_the_keyboard(
    transactional_db, login, page, screenshot
):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    login(manager)
    nav = page.get_by_role("navigation", name="Main")
    toggle = nav.get_by_role("button", name="Coaching")
    assert toggle.get_attribute("aria-expanded") == "false"
    menu = page.locator("#nav-menu-coaching")
    assert not menu.is_visible()

    # Tab to the button, open it with Enter: every section is listed.
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert menu.is_visible()
    labels = [link.inner_text() for link in menu.get_by_role("link").all()]
    assert labels == ["Overview", *[section.label for section in SECTIONS]]
    screenshot("coaching-menu-open")

    # Escape closes it and gives the focus back to the button.
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not menu.is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Coaching"

    # Arrow down opens it on the first entry; arrow down again, then Enter follows the link.
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent") == "Overview"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent") == SECTIONS[0].label
    page.keyboard.press("Enter")
    page.wait_for_url("**/one-on-ones/")
    # On a section's page the entry and the section are marked current.
    assert nav.get_by_role("button", name="Coaching").get_attribute("data-current") == "true"
    nav.get_by_role("button", name="Coaching").click()
    assert menu.get_by_role("link", name=SECTIONS[0].label).get_attribute("aria-current") == "page"

    # Tabbing out of the open menu closes it.
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    assert menu.is_visible()
    for _ in range(len(SECTIONS) + 2):
        page.keyboard.press("Tab")
    assert not menu.is_visible()


def test_without_javascript_the_coaching_entry_opens_the_hub(
    transactional_db, browser, live_server
):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/login/")
        page.get_by_label("Username").fill(manager.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Coaching").click()
        page.wait_for_url("**/coaching/")
        cards = page.get_by_test_id("hub-sections")
        for section in SECTIONS:
            assert cards.get_by_role("link", name=section.label).is_visible()
    finally:
        context.close()
