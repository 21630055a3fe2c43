"""Products sold in a real browser: opened from the Reports menu, the period changed, the breakdown picked."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.periods import start_of
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from tests.factories import AccountFactory, PipelineFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def manager(transactional_db):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    admin = UserFactory(username="ada", role="admin")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    account = AccountFactory(owner=rep)
    today = timezone.localdate()

    def won(name, product, days_ago):
        created = start_of(today - datetime.timedelta(days=days_ago + 5))
        return DealSpec(
            name=name,
            account_id=account.pk,
            owner_id=rep.pk,
            pipeline_id=pipeline.pk,
            stage_id=stages["Won"].pk,
            amount=Decimal("300.00"),
            currency="USD",
            expected_close_date=today,
            forecast_category="pipeline",
            created_at=created,
            lost_reason_id=None,
            changes=[],
            transitions=[
                TransitionSpec(to_stage_id=stages["Qualification"].pk, at=created),
                TransitionSpec(
                    to_stage_id=stages["Won"].pk,
                    at=start_of(today - datetime.timedelta(days=days_ago)),
                ),
            ],
            line_items=[(product.pk, Decimal("3"), Decimal("100"), Decimal("0"))],
        )

    widget, gadget = ProductFactory(name="Widget"), ProductFactory(name="Gadget")
    deals_import(specs=[won("Recent", widget, 10), won("Older", gadget, 70)], by=admin)  # fmt: skip
    return manager


def table_rows(page) -> list[str]:
    return page.locator("[data-testid=report-table] tbody th").all_inner_texts()


def test_a_manager_opens_products_sold_and_narrows_the_period(page, login, manager):
    page.set_default_timeout(30_000)  # the machine is shared: a first page may take a while
    login(manager)
    page.get_by_role("navigation").get_by_role("link", name="Reports", exact=True).first.click()
    page.get_by_role("link", name="Products sold").first.click()
    page.wait_for_url("**/reports/products-sold/**")
    assert sorted(table_rows(page)) == ["Gadget", "Widget"]
    page.get_by_label("Period", exact=True).select_option("30d")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**period=30d**")
    assert table_rows(page) == ["Widget"]
    assert "Widget: +300" in page.get_by_test_id("movers-up").inner_text()
    page.get_by_test_id("by-rep").click()
    page.wait_for_url("**by=rep**")
    assert table_rows(page) == ["Riley Rep"]
    assert page.get_by_label("Period", exact=True).input_value() == "30d"
