"""The activity quick form: what a failed submit leaves on the page, and where its hints are."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import DealFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal", amount=Decimal("5000.00"))


def _dangling_descriptions(html: str) -> set[str]:
    """Ids named by aria-describedby that no element of the page carries."""
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    named = {
        name for value in re.findall(r'aria-describedby="([^"]+)"', html) for name in value.split()
    }
    return named - ids


def test_a_refused_submit_clears_the_previous_logged_banner(client, rep, deal):
    client.force_login(rep)
    url = reverse("deal-activity", args=[deal.pk])
    logged = client.post(url, {"kind": "note", "subject": "Called back"}, **HTMX).content.decode()
    assert "logged." in logged
    refused = client.post(url, {"kind": "call", "subject": ""}, **HTMX).content.decode()
    assert "This field is required." in refused
    assert '<div id="activity-status" hx-swap-oob="innerHTML"></div>' in refused


def test_every_described_by_on_the_deal_page_names_an_element_of_the_page(client, rep, deal):
    client.force_login(rep)
    page = client.get(reverse("deal-detail", args=[deal.pk])).content.decode()
    assert 'aria-describedby="id_occurred_at_helptext"' in page
    assert _dangling_descriptions(page) == set()


def test_a_refused_when_points_at_its_error_and_its_hint(client, rep, deal):
    client.force_login(rep)
    refused = client.post(
        reverse("deal-activity", args=[deal.pk]),
        {"kind": "call", "subject": "Call", "occurred_at": "2999-01-01T10:00"},
        **HTMX,
    ).content.decode()
    assert 'aria-describedby="id_occurred_at_error id_occurred_at_helptext"' in refused
    assert _dangling_descriptions(refused) == set()


@pytest.mark.parametrize(
    "page", ["deal-new", "deal-edit", "account-detail", "account-edit", "account-new"]
)
def test_no_form_page_describes_a_field_by_a_missing_id(client, manager, rep, deal, page):
    client.force_login(manager)
    args = {
        "deal-edit": [deal.pk],
        "account-detail": [deal.account_id],
        "account-edit": [deal.account_id],
    }
    html = client.get(reverse(page, args=args.get(page, []))).content.decode()
    assert _dangling_descriptions(html) == set()
