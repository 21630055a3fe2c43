def test_extreme_time_zone_offsets_in_filters_are_handled(client_for, rep):
    client = client_for(rep)
    ok = client.get("/api/v1/activities/", {"occurred_before": "1354-10-01T14:49:30+20:32"})
    assert ok.status_code == 200
    out_of_range = client.get("/api/v1/activities/", {"occurred_after": "0001-01-01T00:00:00+10:00"})
    assert out_of_range.status_code == 400
