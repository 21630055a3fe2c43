"""Input at the edges answers a 4xx that says what is wrong and writes nothing, never a 500.

Each case was a 500 found by an outside probe: line items worth more than a
deal can hold, dates at the ends of the calendar, JSON nested past the
decoder's depth and a body over the size limit.
"""

from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.models import Deal, DealLineItem
from salesmgr.values import DAY_RANGE_TEXT
from tests.factories import AccountFactory, DealFactory, ProductFactory

DEALS = "/api/v1/deals/"


@pytest.fixture
def product(db):
    return ProductFactory(unit_price=Decimal("999999999999.00"))


def test_line_items_worth_more_than_a_deal_can_hold_are_refused_on_create(
    client_for, rep, pipeline, product
):
    account = AccountFactory(owner=rep)
    response = client_for(rep).post(
        DEALS,
        {
            "name": "Too big",
            "account": account.pk,
            "pipeline": pipeline.pk,
            "expected_close_date": "2030-01-31",
            "line_items": [{"product": product.pk, "quantity": "9999999999"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "above what a deal can be worth" in str(response.json()["line_items"])
    assert not Deal.objects.filter(name="Too big").exists()


def test_line_items_that_only_together_pass_the_limit_are_refused_on_update(
    client_for, rep, pipeline
):
    deal = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("10.00"))
    half = ProductFactory(unit_price=Decimal("600000000000.00"))
    response = client_for(rep).patch(
        f"{DEALS}{deal.pk}/",
        {
            "version": 1,
            "line_items": [
                {"product": half.pk, "quantity": "1"},
                {"product": half.pk, "quantity": "1"},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "line items add up to" in str(response.json()["line_items"])
    deal.refresh_from_db()
    assert deal.amount == Decimal("10.00") and deal.version == 1
    assert not DealLineItem.objects.filter(deal=deal).exists()


@pytest.mark.parametrize(
    "query, fields",
    [
        ({"interval": "week", "start": "9999-01-01", "end": "9999-12-31"}, {"start", "end"}),
        ({"interval": "month", "start": "0001-01-01", "end": "2026-01-31"}, {"start"}),
        ({"interval": "week", "start": "2026-01-01", "end": "3000-01-01"}, {"end"}),
    ],
)
def test_a_metrics_series_beyond_the_calendar_is_a_400_naming_the_date(
    client_for, manager, query, fields
):
    response = client_for(manager).get("/api/v1/metrics/series/", query)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == fields and all(body[field] == [DAY_RANGE_TEXT] for field in fields)


def test_the_funnel_refuses_dates_beyond_the_calendar(client_for, manager):
    response = client_for(manager).get(
        "/api/v1/metrics/funnel/", {"start": "0001-01-01", "end": "9999-12-31"}
    )
    assert response.status_code == 400 and set(response.json()) == {"start", "end"}


def test_the_last_supported_days_still_answer(client_for, manager):
    response = client_for(manager).get(
        "/api/v1/metrics/series/", {"interval": "week", "start": "2999-01-01", "end": "2999-12-31"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("start, end", [("0001-01-01", "2026-01-31"), ("9999-01-01", "9999-12-30")])
def test_a_dashboard_period_beyond_the_calendar_falls_back_to_the_default(
    client, manager, start, end
):
    client.force_login(manager)
    response = client.get("/dashboard/", {"period": "custom", "start": start, "end": end})
    assert response.status_code == 200
    period = response.context["pick"].period
    assert period.preset == "90d" and period.last_day == timezone.localdate()


def test_json_nested_past_the_decoders_depth_is_a_400(client, rep):
    client.force_login(rep)
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(DEALS, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_size_limit_is_a_json_413(client, rep):
    client.force_login(rep)
    body = '{"name": "' + "x" * 3_000_000 + '"}'
    response = client.post(DEALS, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "larger than the 2.5 MB" in response.json()["detail"]
    assert not Deal.objects.exists()
