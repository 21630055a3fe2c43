"""Work run beside other work: two long queries on two connections keep two of PostgreSQL's
cores busy instead of one."""

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from django.db import connection, connections


@contextmanager
def beside(work: Callable, *args) -> Iterator[Future]:
    """Run ``work(*args)`` beside the block: on a thread of its own, with a database connection of
    its own, where the database is PostgreSQL and no transaction is open (a transaction's rows
    are not seen from another connection; tests run inside one); else before it, here. The
    block reads the result from the future it is given; leaving the block waits for the thread,
    whatever the block did."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        done: Future = Future()
        done.set_result(work(*args))
        yield done
        return

    # The caller's context goes along: the database router reads it (whether this request's
    # reads may go to the replica), and a thread starts with an empty one.
    context = contextvars.copy_context()

    def alone():
        try:
            return context.run(work, *args)
        finally:
            connections.close_all()  # this thread's own

    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(alone)
