"""An admin reads the audit log in the browser: their own sign-in is there, and the filters work."""

from tests.factories import UserFactory


def test_an_admin_finds_a_failed_sign_in_in_the_audit_log(transactional_db, page, login):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    page.goto("/login/")
    page.get_by_label("Username").fill("mallory")
    page.get_by_label("Password").fill("guess")
    page.get_by_role("button", name="Log in").click()
    login(admin)

    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/audit-log/")
    rows = page.locator("table tbody tr")
    assert "Signed in" in rows.first.inner_text()
    assert "ada" in rows.first.inner_text()

    page.get_by_label("Event", exact=True).select_option("signin_failed")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/audit-log/?*kind=signin_failed*")
    assert rows.count() == 1
    assert "mallory" in rows.first.inner_text()
    assert "127.0.0.1" in rows.first.inner_text()


def test_a_rep_has_no_audit_log(transactional_db, page, login):
    login(UserFactory(username="riley"))
    assert page.get_by_role("link", name="Audit log").count() == 0
    assert page.goto("/audit-log/").status == 403
