import pytest
from rest_framework.test import APIClient


@pytest.fixture
def client_for():
    """An API client signed in as the given user (None: anonymous)."""

    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
