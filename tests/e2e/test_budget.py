"""Budgets in a browser: an admin adds a team's budget, plans a programme, corrects it and enters
spend, watching the totals follow; the team's manager enters actual spend only; a rep is refused."""

from django.utils import timezone

from reports.budget.models import BudgetAmount, TeamBudget
from reports.budget.services import budget_create
from tests.factories import UserFactory


def stat(page, label: str) -> str:
    """The figure of the budget's stat whose label starts with ``label``."""
    return (
        page.locator(".stat", has=page.locator(".stat__label", has_text=label))
        .locator(".stat__value")
        .inner_text()
    )


def month_row(page, month: int):
    return page.locator("[data-budget-months] tbody tr").nth(month - 1)


def save_amount(page, what: str, category: str, month: int, amount: str) -> None:
    page.get_by_label("What", exact=True).select_option(label=what)
    page.get_by_label("Category", exact=True).select_option(label=category)
    page.get_by_label("Month", exact=True).select_option(str(month))
    page.get_by_label("Amount", exact=False).and_(page.locator("input")).fill(amount)
    with page.expect_navigation():  # the page answers the post with itself, refreshed
        page.get_by_role("button", name="Save").click()


def test_an_admin_adds_a_budget_plans_a_programme_and_sees_the_totals_follow(
    transactional_db, page, login, screenshot
):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    UserFactory(username="mona", role="manager", full_name="Mona Manager")
    year = timezone.localdate().year
    this_month = timezone.localdate().month

    login(admin)
    page.get_by_role("link", name="Budget", exact=True).click()
    page.wait_for_url("**/budget/")
    assert "No budgets." in page.locator("[data-budgets]").inner_text()
    page.get_by_label("Team of").select_option(label="Mona Manager")
    page.get_by_label("Year").fill(str(year))
    page.get_by_role("button", name="Add budget").click()
    page.wait_for_url("**/budget/*/")
    assert page.get_by_role("heading", level=1).inner_text() == f"Mona Manager's team · {year}"
    assert stat(page, "budget for the year") == "0"

    # A training programme in March: the year's budget and March's programmes show it.
    save_amount(page, "Planned programme", "Training", 3, "1500")
    assert stat(page, "budget for the year") == "1,500"
    assert "1,500.00" in month_row(page, 3).inner_text()

    # Corrected: the same line is replaced, not added to.
    save_amount(page, "Planned programme", "Training", 3, "2000")
    assert stat(page, "budget for the year") == "2,000"
    assert "2,000.00" in month_row(page, 3).inner_text()
    assert BudgetAmount.objects.get(month=3).amount == 2000

    # Spend entered this month: spent and the variance to date (against the budget of the months
    # with spend entered, only this one) follow.
    save_amount(page, "Actual spend", "Travel for client visits", this_month, "700")
    assert stat(page, "spent") == "700"
    budgeted_to_date = 2000 if this_month == 3 else 0
    assert page.locator("[data-variance]").inner_text() == f"{budgeted_to_date - 700:,}"
    assert "700.00" in month_row(page, this_month).inner_text()

    # Headcount is planned from the plans: a plain refusal on the page, nothing written.
    save_amount(page, "Planned programme", "Headcount (salaries and commission)", 5, "9000")
    assert "Headcount is planned" in page.get_by_role("alert").inner_text()
    assert BudgetAmount.objects.filter(category="headcount").count() == 0
    screenshot("budget-1280")
    page.set_viewport_size({"width": 768, "height": 900})
    # The chart redraws to the narrower page on the resize; then nothing runs off the side.
    page.wait_for_function("() => document.scrollingElement.scrollWidth <= 768")
    screenshot("budget-768")


def test_the_teams_manager_enters_spend_and_a_rep_is_refused(transactional_db, page, login):
    admin = UserFactory(username="ada", role="admin")
    manager = UserFactory(username="mona", role="manager", full_name="Mona Manager")
    rep = UserFactory(username="riley", role="rep", manager=manager)
    year = timezone.localdate().year
    budget = budget_create(manager=manager, year=year, by=admin)
    month = timezone.localdate().month

    login(manager)
    page.get_by_role("link", name="Budget", exact=True).click()
    page.wait_for_url("**/budget/")
    page.get_by_role("link", name="Mona Manager's team").click()
    page.wait_for_url(f"**/budget/{budget.pk}/")
    # A manager enters actual spend only: programmes are the admins' to plan.
    assert page.get_by_label("What", exact=True).locator("option").all_inner_texts() == [
        "Actual spend"
    ]
    save_amount(page, "Actual spend", "Events", month, "1250")
    assert stat(page, "spent") == "1,250"
    assert "1,250.00" in month_row(page, month).inner_text()
    row = BudgetAmount.objects.get(budget=budget)
    assert (row.kind, row.category, row.month) == ("actual", "events", month)

    page.context.clear_cookies()
    login(rep)
    assert page.get_by_role("link", name="Budget", exact=True).count() == 0
    response = page.goto(f"/budget/{budget.pk}/")
    assert response.status == 403
    assert page.goto("/budget/").status == 403
    assert TeamBudget.objects.count() == 1
