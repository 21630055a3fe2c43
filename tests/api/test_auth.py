"""Signing in: API tokens, the failed sign-in throttle shared with the sign-in page, revocation, deactivation, CSRF."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from salesmgr.api import people
from salesmgr.models import SignInThrottle
from salesmgr.services import signin_throttles_purge
from tests.conftest import need_postgres, run_together
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


@pytest.fixture
def limits(settings):
    settings.SIGNIN_FAILURES_PER_ACCOUNT = 5
    settings.SIGNIN_FAILURES_PER_ADDRESS = 8
    settings.SIGNIN_WINDOW_SECONDS = 900


def test_past_the_accounts_limit_even_the_right_password_waits(rep, rep2, limits):
    for _ in range(5):
        assert sign_in("rep", "wrong-password").status_code == 400
    throttled = sign_in("rep", "wrong-password")
    assert throttled.status_code == 429
    assert (
        "Try again after" in throttled.json()["detail"]
        and "15 minutes" in throttled.json()["detail"]
    )
    assert 890 <= int(throttled["Retry-After"]) <= 900
    # The account is held back from every address; other accounts from this address are not.
    assert sign_in("rep").status_code == 429
    assert sign_in("rep", client=APIClient(REMOTE_ADDR="10.1.2.3")).status_code == 429
    assert sign_in("rep2").status_code == 200


def test_past_the_addresss_limit_every_account_waits(rep, rep2, admin, limits):
    for n in range(8):
        assert sign_in(f"guess{n}", "wrong-password").status_code == 400
    assert sign_in("rep2").status_code == 429
    assert sign_in("rep2", client=APIClient(REMOTE_ADDR="10.1.2.3")).status_code == 200


def test_the_window_ends_and_sign_in_works_again(rep, limits):
    for _ in range(6):
        sign_in("rep", "wrong-password")
    assert sign_in("rep").status_code == 429
    SignInThrottle.objects.update(window_ends_at=timezone.now())
    assert sign_in("rep").status_code == 200


def test_successful_sign_ins_do_not_count_against_the_limit(rep, limits):
    for _ in range(12):
        assert sign_in("rep").status_code == 200
    for _ in range(5):
        assert sign_in("rep", "wrong-password").status_code == 400


def test_a_forged_forwarded_for_header_does_not_escape_the_limit(rep, limits):
    for attempt in range(5):
        client = APIClient(HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}")
        assert sign_in("rep", "wrong-password", client=client).status_code == 400
    client = APIClient(HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert sign_in("rep", "wrong-password", client=client).status_code == 429


def test_the_sign_in_page_and_the_api_share_one_count(client, rep, limits):
    for _ in range(3):
        assert sign_in("rep", "wrong-password").status_code == 400
    for _ in range(2):
        page = client.post("/login/", {"username": "rep", "password": "wrong-password"})
        assert (
            page.status_code == 200 and "Please enter a correct username" in page.content.decode()
        )
    locked = client.post("/login/", {"username": "rep", "password": PASSWORD})
    assert locked.status_code == 200
    assert "Too many failed sign-ins. Try again after" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert sign_in("rep").status_code == 429


def test_thirty_wrong_passwords_on_the_sign_in_page_lock_the_account(client, rep, settings):
    settings.SIGNIN_FAILURES_PER_ACCOUNT = 10
    for _ in range(30):
        client.post("/login/", {"username": "rep", "password": "wrong-password"})
    right = client.post("/login/", {"username": "rep", "password": PASSWORD})
    assert right.status_code == 200 and "Too many failed sign-ins" in right.content.decode()


def test_the_admins_sign_in_page_shares_the_count(client, admin, limits):
    """The Django admin's own sign-in form is no way round the limit."""
    for _ in range(5):
        page = client.post(
            "/admin/login/?next=/admin/", {"username": "admin", "password": "wrong-password"}
        )
        assert page.status_code == 200 and "Please enter the correct" in page.content.decode()
    locked = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD})
    assert locked.status_code == 200
    assert "Too many failed sign-ins. Try again after" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert sign_in("admin").status_code == 429


def test_the_admins_sign_in_page_signs_an_admin_in(client, admin, limits):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_right_password_on_the_sign_in_page_signs_in(client, rep, limits):
    response = client.post("/login/", {"username": "rep", "password": PASSWORD})
    assert response.status_code == 302
    assert SignInThrottle.objects.filter(failures__gt=0).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_reach_the_password_check_only_up_to_the_limit(rep, settings):
    need_postgres()
    settings.SIGNIN_FAILURES_PER_ACCOUNT = 5
    settings.SIGNIN_FAILURES_PER_ADDRESS = 100
    checked = []
    original = people.authenticate

    def counting(*args, **kwargs):
        checked.append(1)
        return original(*args, **kwargs)

    people.authenticate = counting
    try:
        outcomes = run_together(20, lambda: sign_in("rep", "wrong-password").status_code)
    finally:
        people.authenticate = original
    assert sorted(outcomes) == [400] * 5 + [429] * 15
    assert len(checked) == 5


def test_ended_windows_are_purged(rep, limits):
    sign_in("rep", "wrong-password")
    assert signin_throttles_purge() == 0
    SignInThrottle.objects.update(window_ends_at=timezone.now() - datetime.timedelta(seconds=1))
    assert signin_throttles_purge() == 2


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
