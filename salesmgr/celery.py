"""The Celery app, configured from Django settings (keys prefixed CELERY_)."""

import os

from celery import Celery
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
)

from salesmgr.log import task_context_enter, task_context_exit, task_headers_add
from salesmgr.priority import run_below_the_web

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")

app = Celery("salesmgr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _log_as_the_web_does(**kwargs) -> None:
    """The worker and beat write their lines through Django's LOGGING (format, request ids), not Celery's own."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs) -> None:
    task_headers_add(headers)


@task_prerun.connect
def _bind_request_id(task_id=None, task=None, **kwargs) -> None:
    task_context_enter(task, task_id)


@task_postrun.connect
def _unbind_request_id(task_id=None, **kwargs) -> None:
    task_context_exit(task_id)


@worker_init.connect
def _yield_to_the_web(**kwargs) -> None:
    """The worker's main process, and the pool's processes it starts, run below the web's priority."""
    run_below_the_web()
