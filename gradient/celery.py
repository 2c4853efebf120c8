"""The Celery application; workers start with `celery -A gradient worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradient.settings")

app = Celery("gradient")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules of packages inside apps, which autodiscovery (app.tasks only) misses.
app.autodiscover_tasks(["workflows.git"])
