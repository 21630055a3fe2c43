"""Split credit on a deal: shares sum to 100, set by the owner's manager or an admin, read by who sees the deal."""

import pytest

from pipeline.models import DealSplit
from tests.factories import DealFactory


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline)


def _url(deal):
    return f"/api/v1/deals/{deal.pk}/splits/"


def test_manager_splits_a_deal_between_two_reps(client_for, manager, rep, rep2, deal):
    body = {"splits": [{"rep": rep.pk, "share": "60.00"}, {"rep": rep2.pk, "share": "40.00"}]}
    answer = client_for(manager).post(_url(deal), body, format="json")
    assert answer.status_code == 200, answer.content
    assert [(s["rep"], s["share"]) for s in answer.json()["splits"]] == [
        (rep.pk, "60.00"),
        (rep2.pk, "40.00"),
    ]
    assert client_for(rep).get(_url(deal)).json()["splits"][1]["rep_name"] == "Robin Rep"


@pytest.mark.parametrize(
    "shares, message",
    [
        (["60.00", "30.00"], "add up to 90%"),
        (["60.00", "50.00"], "add up to 110%"),
        (["100.00", "0.00"], "more than 0"),
    ],
)
def test_shares_not_summing_to_100_are_a_400_naming_splits(
    client_for, manager, rep, rep2, deal, shares, message
):
    body = {"splits": [{"rep": rep.pk, "share": shares[0]}, {"rep": rep2.pk, "share": shares[1]}]}
    answer = client_for(manager).post(_url(deal), body, format="json")
    assert answer.status_code == 400
    assert message in " ".join(answer.json()["splits"])
    assert not DealSplit.objects.exists()


def test_the_same_rep_twice_is_a_400(client_for, manager, rep, deal):
    body = {"splits": [{"rep": rep.pk, "share": "50.00"}, {"rep": rep.pk, "share": "50.00"}]}
    assert client_for(manager).post(_url(deal), body, format="json").status_code == 400


def test_an_empty_list_gives_the_owner_the_credit_again(client_for, manager, rep, rep2, deal):
    client = client_for(manager)
    client.post(_url(deal), {"splits": [{"rep": rep2.pk, "share": "100.00"}]}, format="json")
    assert client.post(_url(deal), {"splits": []}, format="json").json() == {"splits": []}
    assert not DealSplit.objects.exists()


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("admin", 200, 200),
        ("manager", 200, 200),
        ("rep", 200, 403),
        ("rep2", 404, 404),
        ("other_manager", 404, 404),
        ("outsider", 404, 404),
        (None, 401, 401),
    ],
)
def test_role_matrix(
    request, client_for, admin, manager, rep, rep2, other_manager, outsider, deal, who, read, write
):
    user = request.getfixturevalue(who) if who else None
    client = client_for(user)
    assert client.get(_url(deal)).status_code == read
    body = {"splits": [{"rep": rep.pk, "share": "100.00"}]}
    assert client.post(_url(deal), body, format="json").status_code == write


def test_a_manager_cannot_credit_a_rep_outside_their_team(client_for, manager, rep, outsider, deal):
    body = {"splits": [{"rep": rep.pk, "share": "50.00"}, {"rep": outsider.pk, "share": "50.00"}]}
    answer = client_for(manager).post(_url(deal), body, format="json")
    assert answer.status_code == 400  # the outsider is not someone the manager can see


def test_deal_page_shows_splits_and_saves_the_form(client, manager, rep, rep2, deal):
    client.force_login(manager)
    answer = client.post(
        f"/deals/{deal.pk}/splits/", {"rep": [rep.pk, rep2.pk, ""], "share": ["70", "30", ""]}
    )
    assert answer.status_code == 302
    page = client.get(f"/deals/{deal.pk}/").content.decode()
    assert "Split credit" in page and "70%" in page and "30%" in page
    bad = client.post(f"/deals/{deal.pk}/splits/", {"rep": [rep.pk], "share": ["70"]}, follow=True)
    assert "add up to 70%" in bad.content.decode()
    assert DealSplit.objects.count() == 2


def test_a_rep_posting_the_split_form_gets_403(client, rep, deal):
    client.force_login(rep)
    assert (
        client.post(f"/deals/{deal.pk}/splits/", {"rep": [rep.pk], "share": ["100"]}).status_code
        == 403
    )
