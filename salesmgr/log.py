"""Structured logs: every line carries the id of the request it belongs to, in the web and the worker.

``RequestIdMiddleware`` (``salesmgr.middleware``) binds a ``LogContext`` for
each request, until the response is closed; ``LogContextFilter`` copies it onto every record the console
handler writes, and ``JsonFormatter`` writes one JSON object per line
(``LOG_FORMAT=json``). A task queued while a request is served carries its id
in the message headers (``before_task_publish``), and the worker binds it
again while the task runs (``task_prerun``/``task_postrun``), so the worker's
lines of that task carry the same id.

Nothing here imports Django's models: the Celery app module connects these
hooks before Django is set up.
"""

import contextvars
import datetime
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils.functional import SimpleLazyObject, empty

# An incoming X-Request-ID is kept when it is this short and made of these characters; any other
# value is replaced, so a client cannot write newlines, markup or megabytes into the logs.
REQUEST_ID_MAX_LENGTH = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")

# The task message headers that carry the context to the worker.
REQUEST_ID_HEADER = "salesmgr_request_id"
USER_ID_HEADER = "salesmgr_user_id"


@dataclass(frozen=True)
class LogContext:
    """What a log line is part of: a request (web) or a task run (worker)."""

    request_id: str
    user_id: int | None = None
    ip_address: str | None = None
    request: Any = None  # the HttpRequest being served, for its user once it is known


_context: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar(
    "salesmgr_log_context", default=None
)


def valid_request_id(value: str | None) -> str | None:
    """``value`` if it is a sane request id (bounded, safe characters), else None."""
    if not value or len(value) > REQUEST_ID_MAX_LENGTH or not _REQUEST_ID.fullmatch(value):
        return None
    return value


def new_request_id() -> str:
    return uuid.uuid4().hex


def log_context() -> LogContext | None:
    """The context of the request or task being served in this thread, if any."""
    return _context.get()


def log_context_bind(context: LogContext) -> None:
    """Bind ``context`` for the request being served in this thread, until ``log_context_clear``."""
    _context.set(context)


def log_context_clear(**kwargs) -> None:
    """End the request's context: connected to ``request_finished``, which Django sends once the
    response is closed, after its own logging of the response (``django.request``)."""
    _context.set(None)


def context_user(context: LogContext | None):
    """The signed-in user of the context's request, if authentication has already found them.

    Never queries: a user not yet loaded (Django's lazy ``request.user``) counts as unknown.
    """
    request = context.request if context else None
    user = getattr(request, "user", None) if request is not None else None
    if isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:
            return None
        user = user._wrapped
    return user if getattr(user, "is_authenticated", False) else None


def context_user_id(context: LogContext | None) -> int | None:
    if context is None:
        return None
    if context.user_id is not None:
        return context.user_id
    user = context_user(context)
    return user.pk if user is not None else None


class LogContextFilter(logging.Filter):
    """Adds ``request_id`` and ``user_id`` to every record (``-`` and None outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        if not hasattr(record, "request_id"):
            record.request_id = context.request_id if context else "-"
        if not hasattr(record, "user_id"):
            record.user_id = context_user_id(context)
        return True


# The fields a request log line adds (``extra=``), written as they are.
REQUEST_FIELDS = ("method", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request and user ids, and so on."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "user_id": getattr(record, "user_id", None),
        }
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# Celery: the context travels with the tasks queued while it is bound.


def task_headers_add(headers: dict | None) -> None:
    """Put the current context into a task message's headers (``before_task_publish``)."""
    context = _context.get()
    if context is None or headers is None:
        return
    headers.setdefault(REQUEST_ID_HEADER, context.request_id)
    user_id = context_user_id(context)
    if user_id is not None:
        headers.setdefault(USER_ID_HEADER, user_id)


_task_tokens: dict[str, contextvars.Token] = {}


def task_context_enter(task, task_id: str) -> None:
    """Bind the context a task was queued in (``task_prerun``).

    A task run eagerly inside a request keeps that request's context; one queued
    by beat or from a shell gets its task id as its request id.
    """
    request = getattr(task, "request", None)
    request_id = valid_request_id(request.get(REQUEST_ID_HEADER) if request else None)
    if request_id is None and _context.get() is not None:
        return
    user_id = request.get(USER_ID_HEADER) if request else None
    context = LogContext(
        request_id=request_id or valid_request_id(task_id) or new_request_id(),
        user_id=user_id if isinstance(user_id, int) else None,
    )
    _task_tokens[task_id] = _context.set(context)


def task_context_exit(task_id: str) -> None:
    """Unbind what ``task_context_enter`` bound (``task_postrun``)."""
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        _context.reset(token)
