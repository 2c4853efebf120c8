"""The Celery application; workers start with `celery -A gradient worker`."""

import os

from celery import Celery
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gradient.settings")

app = Celery("gradient")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _flush_events(**_) -> None:
    """A pool process that stops writes the events it still holds first."""
    from runs.events import flush_published

    flush_published()


@worker_process_init.connect
def _remove_what_killed_processes_left(**_) -> None:
    """A pool process that replaces a killed one removes the empty job cgroups and the
    sandbox slots' mounts it left."""
    from runs.engine.local.sandbox import stale_job_cgroups_remove, stale_slots_remove

    stale_job_cgroups_remove()
    stale_slots_remove()


@worker_process_shutdown.connect
def _release_spares(**_) -> None:
    """A pool process that stops removes the sandboxes (cgroups, mounts) it made ahead."""
    from runs.engine.local.sandbox import spares_release

    spares_release()


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(**_) -> None:
    """Drop connections that are too old or broke, as Django does around a request."""
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
def _reconcile_at_start(**_) -> None:
    """A worker that starts (after a crash, say) has the database's backlog queued at once
    rather than at the next beat."""
    from runs import queue

    queue.reconcile()
