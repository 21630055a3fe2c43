"""Managers' choices of team target over REST: admins set, change and forget them; managers read their team's."""

import pytest

from quotas.models import ManagerTarget
from quotas.services import manager_target_set

URL = "/api/v1/manager-targets/"


@pytest.fixture
def deputy(manager):
    from tests.factories import UserFactory

    return UserFactory(username="deputy", role="manager", manager=manager, full_name="Dana Deputy")


@pytest.fixture
def choices(admin, manager, deputy, other_manager):
    manager_target_set(manager=manager, basis="own", by=admin)
    manager_target_set(manager=deputy, basis="rollup", by=admin)
    manager_target_set(manager=other_manager, basis="own", by=admin)


def _managers(response):
    assert response.status_code == 200
    return sorted(row["manager"] for row in response.json()["results"])


def test_each_role_lists_the_choices_it_may_read(
    client_for, choices, admin, manager, deputy, other_manager, rep, outsider
):
    assert _managers(client_for(admin).get(URL)) == sorted(
        [manager.pk, deputy.pk, other_manager.pk]
    )
    assert _managers(client_for(manager).get(URL)) == sorted([manager.pk, deputy.pk])
    assert _managers(client_for(deputy).get(URL)) == [deputy.pk]
    assert _managers(client_for(other_manager).get(URL)) == [other_manager.pk]
    assert _managers(client_for(rep).get(URL)) == []
    assert _managers(client_for(outsider).get(URL)) == []
    assert client_for(other_manager).get(f"{URL}{manager.pk}/").status_code == 404
    assert client_for(rep).get(f"{URL}{manager.pk}/").status_code == 404
    body = client_for(manager).get(f"{URL}{deputy.pk}/").json()
    assert body == {"manager": deputy.pk, "manager_name": "Dana Deputy", "basis": "rollup"}


def test_an_admin_sets_changes_and_forgets_a_choice(client_for, admin, manager):
    created = client_for(admin).post(URL, {"manager": manager.pk, "basis": "own"}, format="json")
    assert created.status_code == 201
    assert created.json()["basis"] == "own"
    again = client_for(admin).post(URL, {"manager": manager.pk, "basis": "rollup"}, format="json")
    assert again.status_code == 400 and "manager" in again.json()
    changed = client_for(admin).patch(f"{URL}{manager.pk}/", {"basis": "rollup"}, format="json")
    assert changed.status_code == 200 and changed.json()["basis"] == "rollup"
    assert ManagerTarget.objects.get(manager=manager).basis == "rollup"
    assert client_for(admin).delete(f"{URL}{manager.pk}/").status_code == 204
    assert not ManagerTarget.objects.filter(manager=manager).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"manager": "rep", "basis": "own"}, "manager"),
        ({"manager": "manager", "basis": "both"}, "basis"),
        ({"manager": "manager"}, "basis"),
        ({"basis": "own"}, "manager"),
        ({"manager": 999999, "basis": "own"}, "manager"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(request, client_for, admin, body, field):
    sent = {
        key: request.getfixturevalue(value).pk
        if key == "manager" and isinstance(value, str)
        else value
        for key, value in body.items()
    }
    response = client_for(admin).post(URL, sent, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ManagerTarget.objects.exists()


def test_a_bad_basis_on_a_change_is_named(client_for, admin, manager, choices):
    response = client_for(admin).patch(f"{URL}{manager.pk}/", {"basis": 3}, format="json")
    assert response.status_code == 400 and "basis" in response.json()
    assert ManagerTarget.objects.get(manager=manager).basis == "own"


@pytest.mark.parametrize("who", ["manager", "rep", "other_manager"])
def test_only_admins_write(request, client_for, choices, manager, who):
    client = client_for(request.getfixturevalue(who))
    assert (
        client.post(URL, {"manager": manager.pk, "basis": "own"}, format="json").status_code == 403
    )
    assert (
        client.patch(f"{URL}{manager.pk}/", {"basis": "rollup"}, format="json").status_code == 403
    )
    assert client.delete(f"{URL}{manager.pk}/").status_code == 403
    assert ManagerTarget.objects.get(manager=manager).basis == "own"


def test_the_list_costs_the_same_queries_however_many_choices(
    client_for, admin, choices, django_assert_num_queries
):
    with django_assert_num_queries(2):
        client_for(admin).get(URL)
