"""People are written only through the services; staff access follows the role, written once."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token

from salesmgr.checks import NOT_SELF_DEACTIVATION
from salesmgr.models import Role, User
from salesmgr.services import (
    token_issue,
    token_revoke,
    user_create,
    user_deactivate,
    user_update,
)


@pytest.mark.parametrize(("role", "staff"), [("rep", False), ("manager", False), ("admin", True)])
def test_staff_access_follows_the_role_from_the_start(db, role, staff):
    assert user_create(username="someone", password=None, role=role).is_staff is staff


def test_a_role_change_sets_staff_access(admin, rep):
    assert user_update(user=rep, by=admin, role=Role.ADMIN).is_staff is True
    assert User.objects.get(pk=rep.pk).is_staff is True
    assert user_update(user=rep, by=admin, role=Role.MANAGER).is_staff is False
    assert user_update(user=rep, by=admin, is_superuser=True).is_staff is True


def test_an_update_that_would_make_a_cycle_changes_nothing(admin, manager, rep):
    with pytest.raises(ValidationError) as refused:
        user_update(user=manager, by=admin, manager=rep, full_name="Changed")
    assert "cycle" in refused.value.message_dict["manager"][0]
    manager.refresh_from_db()
    assert (manager.manager, manager.full_name) == (None, "Morgan Manager")


def test_nobody_deactivates_themselves(admin, rep):
    with pytest.raises(ValidationError) as refused:
        user_deactivate(user=admin, by=admin)
    assert refused.value.message_dict == {"is_active": [NOT_SELF_DEACTIVATION]}
    with pytest.raises(ValidationError):
        user_update(user=admin, by=admin, is_active=False)
    assert user_deactivate(user=rep, by=admin).is_active is False


def test_a_person_created_inactive_cannot_sign_in(db):
    user = user_create(username="later", password=None, is_active=False)
    assert User.objects.get(pk=user.pk).is_active is False


def test_a_token_is_issued_once_and_revoked(rep):
    assert token_issue(user=rep).key == token_issue(user=rep).key
    token_revoke(user=rep)
    assert not Token.objects.filter(user=rep).exists()
