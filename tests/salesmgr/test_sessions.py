"""Session rules: idle and absolute time-outs, a new key at sign-in, and signing out everywhere
when a password changes or a person is deactivated (browser sessions and API tokens alike).

Time is moved by writing the session's own clocks (``signed_in_at``, ``seen_at``), not by
patching the clock.
"""

import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from salesmgr.middleware import SEEN_AT, SIGNED_IN_AT
from salesmgr.services import token_issue, user_deactivate, user_set_password, user_update
from tests.factories import PASSWORD
from tests.test_admin import page_data

PAGE = "/deals/"  # any page that needs a signed-in person
NEW_PASSWORD = "an0ther-Secret-pass"


def signed_in(user) -> Client:
    """A browser that signed in through the sign-in page, as a person does."""
    client = Client()
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def shift_clocks(client: Client, *, signed_in_ago: int, seen_ago: int) -> None:
    session = client.session
    now = int(time.time())
    session[SIGNED_IN_AT] = now - signed_in_ago
    session[SEEN_AT] = now - seen_ago
    session.save()


def is_signed_in(client: Client) -> bool:
    response = client.get(PAGE)
    return response.status_code == 200


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user).key}")
    return client


def test_signing_in_starts_both_clocks(rep):
    client = signed_in(rep)
    session = client.session
    now = time.time()
    assert abs(session[SIGNED_IN_AT] - now) < 5
    assert session[SEEN_AT] == session[SIGNED_IN_AT]


def test_a_session_idle_past_the_limit_ends(rep, settings):
    settings.SESSION_IDLE_SECONDS = 3600
    client = signed_in(rep)
    # A margin either side of the hour: the clocks are whole seconds and the request takes time.
    shift_clocks(client, signed_in_ago=3600 - 30, seen_ago=3600 - 30)
    assert is_signed_in(client)
    shift_clocks(client, signed_in_ago=3600 + 30, seen_ago=3600 + 30)
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert SESSION_KEY not in client.session
    assert not is_signed_in(client)


def test_the_idle_clock_slides_with_use(rep, settings):
    settings.SESSION_IDLE_SECONDS = 3600
    client = signed_in(rep)
    # Busy all day: each request within the hour keeps the session for another hour.
    for hours in (1, 2, 3):
        shift_clocks(client, signed_in_ago=hours * 3000, seen_ago=3000)
        assert is_signed_in(client)
        assert abs(client.session[SEEN_AT] - time.time()) < 5


def test_the_absolute_limit_is_not_extended_by_use(rep, settings):
    settings.SESSION_IDLE_SECONDS = 3600
    settings.SESSION_ABSOLUTE_SECONDS = 7 * 24 * 3600
    client = signed_in(rep)
    shift_clocks(client, signed_in_ago=7 * 24 * 3600 - 60, seen_ago=10)
    assert is_signed_in(client)
    signed_at = client.session[SIGNED_IN_AT]
    assert time.time() - signed_at > 7 * 24 * 3600 - 100  # use did not move it
    shift_clocks(client, signed_in_ago=7 * 24 * 3600 + 1, seen_ago=1)
    assert not is_signed_in(client)


def test_a_session_from_before_the_rules_gets_its_clocks(rep):
    client = signed_in(rep)
    session = client.session
    del session[SIGNED_IN_AT], session[SEEN_AT]
    session.save()
    assert is_signed_in(client)
    assert abs(client.session[SIGNED_IN_AT] - time.time()) < 5


def test_the_stored_session_expires_with_the_idle_limit(rep, settings):
    assert (
        min(settings.SESSION_IDLE_SECONDS, settings.SESSION_ABSOLUTE_SECONDS)
        == settings.SESSION_COOKIE_AGE
    )
    client = signed_in(rep)
    cookie = client.cookies["sessionid"]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
    assert cookie["httponly"]


def test_signing_in_gives_a_new_session_key(rep):
    client = Client()
    session = client.session
    session["before"] = "anonymous visit"
    session.save()
    before = session.session_key
    client.post("/login/", {"username": rep.username, "password": PASSWORD})
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert Session.objects.get(session_key=after).get_decoded()[SESSION_KEY] == str(rep.pk)


def test_a_password_change_ends_every_session_and_token(rep, admin):
    laptop, phone = signed_in(rep), signed_in(rep)
    api = token_client(rep)
    assert is_signed_in(laptop) and is_signed_in(phone)
    assert api.get("/api/v1/users/me/").status_code == 200

    user_update(user=rep, by=admin, password=NEW_PASSWORD)

    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert api.get("/api/v1/users/me/").status_code == 401
    assert not Token.objects.filter(user=rep).exists()
    # The new password works, and gives a new token.
    assert Client().login(username=rep.username, password=NEW_PASSWORD)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": rep.username, "password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    assert f"Token {response.json()['token']}" != api._credentials["HTTP_AUTHORIZATION"]


def test_a_password_set_by_an_admin_through_the_api_ends_the_persons_token(rep, admin):
    api = token_client(rep)
    browser = signed_in(rep)
    response = APIClient()
    response.force_authenticate(admin)
    answer = response.patch(f"/api/v1/users/{rep.pk}/", {"password": NEW_PASSWORD})
    assert answer.status_code == 200, answer.content
    assert api.get("/api/v1/users/me/").status_code == 401
    assert not is_signed_in(browser)


def test_a_password_changed_in_the_django_admin_ends_sessions_and_token(rep, admin):
    api = token_client(rep)
    browser = signed_in(rep)
    admin_browser = signed_in(admin)
    response = admin_browser.post(
        f"/admin/salesmgr/user/{rep.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content
    rep.refresh_from_db()
    assert rep.check_password(NEW_PASSWORD)
    assert api.get("/api/v1/users/me/").status_code == 401
    assert not is_signed_in(browser)
    assert is_signed_in(admin_browser)


def test_a_password_changed_outside_the_services_ends_the_token(rep):
    """``manage.py changepassword`` or a shell saves the person directly: the token still ends."""
    api = token_client(rep)
    browser = signed_in(rep)
    rep.set_password(NEW_PASSWORD)
    rep.save()
    assert api.get("/api/v1/users/me/").status_code == 401
    assert not is_signed_in(browser)


def test_saving_a_person_without_a_new_password_keeps_their_token(rep):
    api = token_client(rep)
    rep.first_name = "Renamed"
    rep.save()
    assert api.get("/api/v1/users/me/").status_code == 200


def test_disabling_password_sign_in_ends_sessions_and_token(rep):
    api = token_client(rep)
    browser = signed_in(rep)
    user_set_password(user=rep, password=None)
    assert not rep.has_usable_password()
    assert api.get("/api/v1/users/me/").status_code == 401
    assert not is_signed_in(browser)


@pytest.mark.parametrize("how", ["service", "api", "update", "admin"])
def test_deactivation_ends_every_session_and_token_at_once(rep, admin, how):
    browser = signed_in(rep)
    api = token_client(rep)
    stored = browser.cookies["sessionid"].value
    assert is_signed_in(browser)

    if how == "service":
        user_deactivate(user=rep, by=admin)
    elif how == "api":
        client = APIClient()
        client.force_authenticate(admin)
        assert client.delete(f"/api/v1/users/{rep.pk}/").status_code == 204
    elif how == "update":
        user_update(user=rep, by=admin, is_active=False)
    else:
        admin_browser = signed_in(admin)  # the admin's change form, through user_update
        page = admin_browser.get(f"/admin/salesmgr/user/{rep.pk}/change/")
        data = page_data(page)
        data.pop("is_active")
        response = admin_browser.post(f"/admin/salesmgr/user/{rep.pk}/change/", data)
        assert response.status_code == 302, response.context["adminform"].form.errors

    # The session is still in the store, yet it no longer signs anyone in.
    assert Session.objects.filter(session_key=stored).exists()
    assert not is_signed_in(browser)
    assert api.get("/api/v1/users/me/").status_code == 401
    assert not Token.objects.filter(user=rep).exists()


def test_reactivation_does_not_bring_the_old_token_back(rep, admin):
    api = token_client(rep)
    user_deactivate(user=rep, by=admin)
    user_update(user=rep, by=admin, is_active=True)
    assert api.get("/api/v1/users/me/").status_code == 401
