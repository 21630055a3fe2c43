def test_extreme_time_zone_offsets_in_filters_are_handled(client_for, rep):
    client = client_for(rep)
    ok = client.get("/api/v1/activities/", {"occurred_before": "1354-10-01T14:49:30+20:32"})
    assert ok.status_code == 200
    out_of_range = client.get("/api/v1/activities/", {"occurred_after": "0001-01-01T00:00:00+10:00"})
    assert out_of_range.status_code == 400



def test_a_search_ignores_null_characters(client_for, rep, pipeline):
    response = client_for(rep).get("/api/v1/pipelines/", {"search": "New\x00 business"})
    assert response.status_code == 200, response.content
    assert [row["name"] for row in response.json()["results"]] == ["New business"]
