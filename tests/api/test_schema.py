"""The served OpenAPI schema, as a client generator reads it: one media type per body, integer ids."""

import pytest


@pytest.fixture
def schema(client, rep):
    client.force_login(rep)
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


# Endpoints that take a file: one multipart body each (the file and its few fields).
UPLOADS = {("post", "/api/v1/imports/")}


def test_every_request_body_is_json_only_and_an_upload_multipart_only(schema):
    for path, method, operation in operations(schema):
        body = operation.get("requestBody")
        if body:
            expected = (
                ["multipart/form-data"] if (method, path) in UPLOADS else ["application/json"]
            )
            assert list(body["content"]) == expected, (method, path)


def test_every_id_in_a_path_is_an_integer(schema):
    typed = 0
    for path, method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] == "id":
                assert parameter["schema"] == {"type": "integer"}, (method, path)
                typed += 1
    assert typed > 50


def test_a_form_encoded_body_is_refused_with_415(client_for, rep, pipeline):
    response = client_for(rep).post(
        "/api/v1/accounts/", "name=Acme", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
