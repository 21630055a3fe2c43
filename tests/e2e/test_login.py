from tests.factories import UserFactory


def test_a_rep_signs_in_and_is_greeted(transactional_db, login):
    rep = UserFactory(username="erin", full_name="Erin Example")
    page = login(rep)
    assert "Erin Example" in page.locator("h1").inner_text()
