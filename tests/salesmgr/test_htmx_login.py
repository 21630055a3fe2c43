"""A signed-out HTMX request is sent to the login page as a whole page, never swapped into a fragment."""

import pytest

pytestmark = pytest.mark.django_db


def test_signed_out_fragment_redirects_the_whole_page(client):
    response = client.get(
        "/dashboard/?fragment=kpis",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/dashboard/?period=90d"},
    )

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?next=%2Fdashboard%2F%3Fperiod%3D90d"
    assert response.content == b""


def test_signed_out_fragment_without_current_url_goes_home_after_login(client):
    response = client.get("/home/panels/", headers={"HX-Request": "true"})

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?next=%2F"


def test_plain_requests_keep_the_ordinary_redirect(client):
    response = client.get("/dashboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_signing_out_keeps_its_own_redirect(client, django_user_model):
    user = django_user_model.objects.create_user(username="someone", password="pw-123456")
    client.force_login(user)

    response = client.post("/logout/", headers={"HX-Request": "true"})

    assert "HX-Redirect" not in response
