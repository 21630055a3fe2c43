"""Background work runs below the web's CPU priority.

A snapshot recompute is seconds of Python; a request is milliseconds. Where the
web and the background share a machine's cores, the kernel hands the CPU to the
requests first and the recompute takes what they leave, so a burst of moves
does not slow the pages while its figures are worked out. The recompute still
ends in seconds: it waits only while requests are running.
"""

import logging
import os

from django.conf import settings

logger = logging.getLogger(__name__)


def run_below_the_web() -> int:
    """Lower the calling thread's CPU priority by ``BACKGROUND_NICENESS`` (on Linux, niceness is
    a thread's: called from a process's main thread before it starts others, every thread and
    child process it starts inherits it). Returns the niceness now; a platform without it
    changes nothing."""
    try:
        current = os.nice(0)
        wanted = min(19, settings.BACKGROUND_NICENESS)
        if current < wanted:
            return os.nice(wanted - current)
        return current
    except (AttributeError, OSError) as exc:  # no nice() here, or not allowed
        logger.warning("background work keeps the web's CPU priority: %s", exc)
        return 0
