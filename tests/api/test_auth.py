"""Signing in to the API: tokens, the failed sign-in limit, revocation, deactivation, CSRF."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import PASSWORD

TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/users/me/"


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # failed sign-ins are counted in the cache
    yield
    cache.clear()


def sign_in(username, password=PASSWORD, client=None):
    return (client or APIClient()).post(TOKEN_URL, {"username": username, "password": password})


def with_token(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_for_a_username_and_password(rep):
    response = sign_in("rep")
    assert response.status_code == 200
    key = response.json()["token"]
    me = with_token(key).get(ME_URL)
    assert me.status_code == 200
    assert me.json()["username"] == "rep"
    assert sign_in("rep").json()["token"] == key  # one token per person until revoked


def test_the_token_is_not_sent_back_in_lists(rep):
    key = sign_in("rep").json()["token"]
    assert key not in with_token(key).get("/api/v1/users/").content.decode()


@pytest.mark.parametrize(
    "body",
    [
        {"username": "rep", "password": "wrong-password"},
        {"username": "nobody", "password": PASSWORD},
        {},
    ],
)
def test_bad_credentials_are_400_without_a_token(rep, body):
    response = APIClient().post(TOKEN_URL, body)
    assert response.status_code == 400
    assert "token" not in response.json()


def test_anonymous_and_bad_tokens_get_401(rep):
    anonymous = APIClient().get(ME_URL)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert with_token("not-a-real-token").get(ME_URL).status_code == 401


def test_the_sixth_failed_attempt_in_a_minute_is_429(rep):
    for _ in range(5):
        assert sign_in("rep", "wrong-password").status_code == 400
    throttled = sign_in("rep", "wrong-password")
    assert throttled.status_code == 429
    # Even the right password waits until the minute is over.
    assert sign_in("rep").status_code == 429
    # Another client is not held back.
    assert sign_in("rep", client=APIClient(REMOTE_ADDR="10.1.2.3")).status_code == 200


def test_successful_sign_ins_do_not_count_against_the_limit(rep):
    for _ in range(8):
        assert sign_in("rep").status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_limit(rep):
    for attempt in range(5):
        client = APIClient(HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
        assert sign_in("rep", "wrong-password", client=client).status_code == 400
    client = APIClient(HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert sign_in("rep", "wrong-password", client=client).status_code == 429


def test_delete_revokes_the_token(rep):
    key = sign_in("rep").json()["token"]
    client = with_token(key)
    assert client.delete(TOKEN_URL).status_code == 204
    assert client.get(ME_URL).status_code == 401
    assert client.delete(TOKEN_URL).status_code == 401
    assert sign_in("rep").json()["token"] != key


def test_a_deactivated_persons_token_stops_working_at_once(admin, rep):
    key = sign_in("rep").json()["token"]
    client = with_token(key)
    assert client.get(ME_URL).status_code == 200
    admin_client = with_token(sign_in("admin").json()["token"])
    assert admin_client.delete(f"/api/v1/users/{rep.pk}/").status_code == 204
    assert client.get(ME_URL).status_code == 401
    assert sign_in("rep").status_code == 400


def test_session_auth_enforces_csrf(rep, pipeline):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="rep", password=PASSWORD)
    assert client.get(ME_URL).status_code == 200
    body = {"name": "Acme"}
    refused = client.post("/api/v1/accounts/", body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    token = "a" * 32
    client.cookies["csrftoken"] = token
    accepted = client.post("/api/v1/accounts/", body, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


def test_token_requests_need_no_csrf(rep):
    client = APIClient(enforce_csrf_checks=True)
    key = sign_in("rep", client=client).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post("/api/v1/accounts/", {"name": "Acme"}).status_code == 201
