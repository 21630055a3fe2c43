"""``reports.beside``: work run on a thread and connection of its own, in the caller's context."""

import threading

import pytest
from django.db import connection, transaction

from reports.beside import beside
from salesmgr import dbrouter
from salesmgr.models import User


def _seen() -> tuple[int, bool, bool]:
    """The thread, whether its reads may go to the replica, and whether it sees a committed row."""
    return (
        threading.get_ident(),
        dbrouter._reads_on_replica.get(),
        User.objects.filter(username="beside").exists(),
    )


@pytest.mark.django_db(transaction=True)
def test_the_work_runs_on_its_own_thread_in_the_callers_context():
    User.objects.create(username="beside")
    with dbrouter.reads_on_replica(), beside(_seen) as seen:
        pass
    thread, on_replica, found = seen.result()
    assert (thread != threading.get_ident()) is (connection.vendor == "postgresql")
    assert on_replica and found  # the router routes the thread's reads as the caller's


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_the_work_runs_first_on_the_callers_connection():
    with transaction.atomic():
        User.objects.create(username="beside")  # not committed: only this connection sees it
        with beside(_seen) as seen:
            pass
    thread, on_replica, found = seen.result()
    assert thread == threading.get_ident() and not on_replica and found
