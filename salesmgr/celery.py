"""The Celery app, configured from Django settings (keys prefixed CELERY_)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")

app = Celery("salesmgr")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
