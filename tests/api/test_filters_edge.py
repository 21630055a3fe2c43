def test_extreme_time_zone_offsets_in_filters_are_handled(client_for, rep):
    client = client_for(rep)
    ok = client.get("/api/v1/activities/", {"occurred_before": "1354-10-01T14:49:30+20:32"})
    assert ok.status_code == 200
    out_of_range = client.get(
        "/api/v1/activities/", {"occurred_after": "0001-01-01T00:00:00+10:00"}
    )
    assert out_of_range.status_code == 400


def test_a_search_ignores_null_characters(client_for, rep, pipeline):
    response = client_for(rep).get("/api/v1/pipelines/", {"search": "New\x00 business"})
    assert response.status_code == 200, response.content
    assert [row["name"] for row in response.json()["results"]] == ["New business"]


def test_an_amount_bound_beyond_every_amount_filters_instead_of_refusing(client_for, rep, pipeline):
    from tests.factories import DealFactory

    DealFactory(owner=rep, pipeline=pipeline, amount="500.00")
    client = client_for(rep)
    huge = "1.7976931348623157e+308"
    above = client.get("/api/v1/deals/", {"amount_min": huge})
    assert above.status_code == 200, above.content
    assert above.json()["count"] == 0
    below = client.get("/api/v1/deals/", {"amount_max": huge, "amount_min": "-" + huge})
    assert below.status_code == 200, below.content
    assert below.json()["count"] == 1
    assert client.get("/api/v1/deals/", {"amount_min": "not a number"}).status_code == 400
