"""Work run in a second process forked from this one: pure Python that would otherwise hold one
core of two while the other idles (the model's trainings of a big grouped pass).

The child reads what the parent holds as it stood at the fork (its pages are shared until
written, nothing is pickled over), sends its result back pickled through a pipe and ends at once,
without running the parent's exit handlers. It must touch no database connection, file or lock of
the parent's: the work given to it is computation on data already read.
"""

import contextlib
import gc
import os
import pickle
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from django.conf import settings


class ChildFailed(Exception):
    """The child raised (its traceback is the message) or ended without a result."""


def processes() -> int:
    """How many processes a pass may use for its Python: ``REPORTS_MODEL_PROCESSES``, at most the
    cores this process may run on, and 1 where processes cannot be forked."""
    if not hasattr(os, "fork"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, settings.REPORTS_MODEL_PROCESSES))


def _usage() -> dict:
    """The child's CPU time and, where Linux tells them, its peak resident memory and its own
    (unshared) memory at the end, in MB."""
    usage = {"cpu_s": time.process_time()}
    try:
        status = Path("/proc/self/status").read_text()
        rollup = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return usage

    def field(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    usage["peak_mb"] = field(status, "VmHWM")
    usage["own_mb"] = field(rollup, "Private_Clean") + field(rollup, "Private_Dirty")
    return usage


class Forked:
    """``work(*args)`` started in a forked child; ``result()`` waits for what it returned."""

    def __init__(self, work: Callable, *args) -> None:
        # The child's CPU time and memory (``_usage``), once its result is read.
        self.usage: dict = {}
        self._pid: int | None = None
        self._read: int | None = None
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # pragma: no cover - the child's lines are not traced
            _run_child(read, write, work, args)
        os.close(write)
        self._pid = pid
        self._read = read

    def result(self):
        """What the child's work returned; ``ChildFailed`` if it raised or ended without a result.
        Reaps the child."""
        with os.fdopen(self._read, "rb") as pipe:
            self._read = None
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if not data:
            raise ChildFailed(f"the child ended without a result (wait status {status})")
        outcome, value, usage = pickle.loads(data)
        if outcome != "done":
            raise ChildFailed(value)
        self.usage = usage
        return value

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Stop and reap the child if its result was not read (the parent's own work failed)."""
        if self._read is not None:
            os.close(self._read)
            self._read = None
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None


def _run_child(read: int, write: int, work: Callable, args: tuple) -> None:  # pragma: no cover
    """The child's whole life: the work, its result down the pipe, and an immediate exit (no exit
    handler of the parent's runs, no connection of the parent's is closed)."""
    code = 1
    try:
        os.close(read)
        # A worker's handlers would act as the worker: here SIGTERM and SIGINT end the child.
        try:
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, signal.SIG_DFL)
        except ValueError:  # forked from a thread Python does not take for the main one
            pass
        # What the parent made is never collected here, so collections leave its pages shared.
        gc.freeze()
        started = time.process_time()
        try:
            result = work(*args)
            usage = _usage()
            usage["cpu_s"] -= started
            payload = ("done", result, usage)
        except BaseException:
            payload = ("failed", traceback.format_exc(), None)
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)
