"""The deals table in a real browser: sorting both ways, the one filter bar, and the export link."""

from decimal import Decimal

from tests.factories import DealFactory, PipelineFactory, UserFactory


def _names(page) -> list[str]:
    return page.locator("table.table tbody tr td:first-child").all_inner_texts()


def test_a_rep_sorts_a_column_both_ways_and_filters_without_losing_the_sort(
    transactional_db, login, screenshot
):
    rep = UserFactory(username="rita", manager=UserFactory(username="mona", role="manager"))
    pipeline = PipelineFactory(name="New business")
    for name, amount in [("Acme", "500"), ("Globex", "9000"), ("Initech", "50"), ("Hooli", "3000")]:
        DealFactory(owner=rep, pipeline=pipeline, name=name, amount=Decimal(amount))
    page = login(rep)
    page.goto("/deals/")
    amount = page.get_by_role("columnheader", name="Amount")
    assert amount.get_attribute("aria-sort") is None

    amount.get_by_role("link").click()
    page.wait_for_url("**/deals/?sort=amount")
    assert _names(page) == ["Initech", "Acme", "Hooli", "Globex"]
    assert amount.get_attribute("aria-sort") == "ascending"
    assert amount.get_by_role("link").inner_text().endswith(", sort descending")

    amount.get_by_role("link").click()
    page.wait_for_url("**/deals/?sort=-amount")
    assert _names(page) == ["Globex", "Hooli", "Acme", "Initech"]
    assert amount.get_attribute("aria-sort") == "descending"
    assert amount.get_by_role("link").inner_text().endswith(", sort ascending")

    bar = page.get_by_role("form", name="Filter deals")
    assert bar.get_by_role("button").count() == 1
    bar.get_by_label("Amount from").fill("100")
    bar.get_by_role("button", name="Apply").click()
    page.wait_for_url("**amount_min=100**")
    assert _names(page) == ["Globex", "Hooli", "Acme"]
    assert amount.get_attribute("aria-sort") == "descending"
    export = page.get_by_role("link", name="Export CSV").get_attribute("href")
    assert "sort=-amount" in export and "amount_min=100" in export
    screenshot("deal-list-1280")

    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot("deal-list-768")
