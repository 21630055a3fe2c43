"""Background work runs below the web's CPU priority: the worker's processes and the embedded recompute."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: a niceness once raised cannot be lowered again without privileges.
WORKER_START = """
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
django.setup()
from celery.signals import worker_init
import salesmgr.celery
before = os.nice(0)
worker_init.send(sender=None)
child = os.fork()
if child == 0:
    os._exit(os.nice(0))
_, status = os.waitpid(child, 0)
print(before, os.nice(0), os.waitstatus_to_exitcode(status))
"""

EMBEDDED = """
import os, threading, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
django.setup()
from salesmgr.priority import run_below_the_web
seen = []
def background():
    run_below_the_web()
    inner = threading.Thread(target=lambda: seen.append(os.nice(0)))
    inner.start(); inner.join()
    seen.append(os.nice(0))
thread = threading.Thread(target=background)
thread.start(); thread.join()
print(os.nice(0), *seen)
"""


def _run(code: str, **env) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return [int(word) for word in done.stdout.split()]


def test_a_worker_and_the_processes_it_starts_run_below_the_web():
    before, after, child = _run(WORKER_START, BACKGROUND_NICENESS="7")
    assert after == max(before, 7)
    assert child == after


def test_the_embedded_recompute_lowers_its_own_thread_only():
    web, inner, background = _run(EMBEDDED, BACKGROUND_NICENESS="12")
    assert background >= 12 and inner == background  # what it starts inherits it
    assert web < 12  # the request threads keep theirs


def test_the_niceness_is_never_lowered():
    before, after, _ = _run(WORKER_START, BACKGROUND_NICENESS="0")
    assert after == before
