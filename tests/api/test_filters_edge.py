def test_extreme_time_zone_offsets_in_filters_are_handled(client_for, rep):
    client = client_for(rep)
    ok = client.get("/api/v1/activities/", {"occurred_before": "1354-10-01T14:49:30+20:32"})
    assert ok.status_code == 200
    out_of_range = client.get("/api/v1/activities/", {"occurred_after": "0001-01-01T00:00:00+10:00"})
    assert out_of_range.status_code == 400


def test_a_null_character_in_a_search_is_a_400_naming_the_parameter(client_for, rep):
    client = client_for(rep)
    for path in ("/api/v1/deals/", "/api/v1/products/", "/api/v1/pipelines/"):
        response = client.get(path, {"search": "a\x00"})
        assert response.status_code == 400, path
        assert response.json() == {"search": ["Null characters are not allowed."]}, path
