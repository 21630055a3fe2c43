"""Contacts, the recycle bin and the error pages in a real browser, at 1280 and 768 pixels."""

from pipeline.models import Contact, Deal, DealContact
from pipeline.services import deal_delete
from tests.factories import AccountFactory, DealFactory, PipelineFactory, UserFactory

WIDTHS = (1280, 768)


def _shoot(page, screenshot, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        screenshot(f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_rep_adds_a_contact_and_links_them_to_a_deal(transactional_db, login, screenshot):
    rep = UserFactory(
        username="rita", manager=UserFactory(username="mona", role="manager"), full_name="Rita Rep"
    )
    account = AccountFactory(owner=rep, name="Wayne Enterprises")
    deal = DealFactory(
        owner=rep, account=account, pipeline=PipelineFactory(), name="Wayne Enterprises pilot"
    )
    page = login(rep)
    page.goto(f"/accounts/{account.pk}/")

    page.get_by_role("link", name="Add contact").click()
    page.get_by_label("First name").fill("Lucius")
    page.get_by_label("Last name").fill("Fox")
    page.get_by_label("Job title").fill("CTO")
    page.get_by_label("Email").fill("lucius@wayne.test")
    page.get_by_role("button", name="Add contact").click()

    page.get_by_role("heading", level=1, name="Lucius Fox").wait_for()
    assert (
        "Contact “Lucius Fox” added to Wayne Enterprises." in page.locator(".messages").inner_text()
    )
    links = page.get_by_role("form", name="Link to a deal")
    links.get_by_label("Deal").select_option(label="Wayne Enterprises pilot")
    links.get_by_label("Role").select_option(label="Decision maker")
    links.get_by_role("button", name="Link to deal").click()

    row = page.get_by_role("row", name="Wayne Enterprises pilot")
    row.wait_for()
    assert "Decision maker" in row.inner_text()
    _shoot(page, screenshot, "contact-page")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _no_sideways_scroll(page), width

    page.get_by_role("link", name="Wayne Enterprises pilot").click()
    panel = page.locator("section", has=page.get_by_role("heading", name="Contacts"))
    assert "Lucius Fox" in panel.inner_text() and "Decision maker" in panel.inner_text()
    _shoot(page, screenshot, "deal-page-contacts")
    contact = Contact.objects.get(email="lucius@wayne.test")
    assert list(DealContact.objects.values_list("deal", "contact", "role")) == [
        (deal.pk, contact.pk, "decision_maker")
    ]


def test_an_admin_restores_a_deleted_deal_from_the_recycle_bin(transactional_db, login, screenshot):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    rep = UserFactory(
        username="rita", manager=UserFactory(username="mona", role="manager"), full_name="Rita Rep"
    )
    deal = DealFactory(owner=rep, pipeline=PipelineFactory(), name="Stark Industries renewal")
    deal_delete(deal=deal, by=rep)
    page = login(admin)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="Recycle bin").click()
    page.get_by_role("heading", level=1, name="Recycle bin").wait_for()
    row = page.get_by_role("row", name="Stark Industries renewal")
    assert "by Rita Rep" in row.inner_text()
    _shoot(page, screenshot, "recycle-bin")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _no_sideways_scroll(page), width

    row.get_by_role("button", name="Restore").click()
    page.get_by_role("heading", level=1, name="Stark Industries renewal").wait_for()
    assert "Deal “Stark Industries renewal” restored." in page.locator(".messages").inner_text()
    assert Deal.objects.get(pk=deal.pk).deleted_at is None


def test_a_mistyped_address_shows_the_apps_404_page_and_the_site_has_an_icon(
    transactional_db, login, screenshot
):
    rep = UserFactory(username="rita", manager=UserFactory(username="mona", role="manager"))
    page = login(rep)

    response = page.goto("/dealz/")

    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert "URLconf" not in page.content() and "api/v1/" not in page.content()
    _shoot(page, screenshot, "not-found")
    icon = page.request.get("/favicon.ico")
    assert icon.status == 200 and icon.body()[:4] == b"\x00\x00\x01\x00"


def test_a_refused_activity_clears_the_logged_banner(transactional_db, login):
    rep = UserFactory(username="rita", manager=UserFactory(username="mona", role="manager"))
    deal = DealFactory(owner=rep, pipeline=PipelineFactory(), name="Acme pilot")
    page = login(rep)
    page.goto(f"/deals/{deal.pk}/")
    form = page.locator("#activity-form")
    form.get_by_label("Subject").fill("Called")
    form.get_by_role("button", name="Log activity").click()
    page.locator("#timeline-list").get_by_text("Called").wait_for()
    assert page.locator("#activity-status").is_visible()

    page.locator("#activity-form").get_by_role("button", name="Log activity").click()
    page.locator("#activity-form").get_by_text("This field is required.").wait_for()
    assert page.locator("#activity-status").inner_text() == ""
    assert not page.locator("#activity-status").is_visible()


def test_a_manager_hands_an_account_to_another_rep_and_its_owner_history_shows_it(
    transactional_db, login, screenshot
):
    manager = UserFactory(username="mona", role="manager", full_name="Mona Manager")
    rita = UserFactory(username="rita", manager=manager, full_name="Rita Rep")
    UserFactory(username="raj", manager=manager, full_name="Raj Rep")
    account = AccountFactory(owner=rita, name="Initech")
    page = login(manager)
    page.goto(f"/accounts/{account.pk}/")

    page.get_by_role("link", name="Edit account").click()
    page.get_by_label("Owner").select_option(label="Raj Rep")
    page.get_by_label("Industry").fill("Software")
    _shoot(page, screenshot, "account-form")
    page.get_by_role("button", name="Save changes").click()

    history = page.locator("section", has=page.get_by_role("heading", name="Owner history"))
    history.wait_for()
    assert "Rita Rep → Raj Rep by Mona Manager" in " ".join(history.inner_text().split())
    _shoot(page, screenshot, "account-page")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert _no_sideways_scroll(page), width
