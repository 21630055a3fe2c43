from tests.factories import DealFactory


def test_extreme_time_zone_offsets_in_filters_are_handled(client_for, rep):
    client = client_for(rep)
    ok = client.get("/api/v1/activities/", {"occurred_before": "1354-10-01T14:49:30+20:32"})
    assert ok.status_code == 200
    out_of_range = client.get("/api/v1/activities/", {"occurred_after": "0001-01-01T00:00:00+10:00"})
    assert out_of_range.status_code == 400



def test_a_null_character_in_a_search_matches_nothing(client_for, rep, pipeline):
    rep_deal = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    client = client_for(rep)
    assert client.get("/api/v1/deals/", {"search": rep_deal.name[:3]}).json()["count"] == 1
    for path in ("/api/v1/deals/", "/api/v1/products/", "/api/v1/pipelines/"):
        response = client.get(path, {"search": rep_deal.name[:3] + "\x00"})
        assert response.status_code == 200, path
        assert response.json()["count"] == 0, path
