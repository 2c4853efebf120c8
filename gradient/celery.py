"""The Celery application; workers start with `celery -A gradient worker`."""

import math
import os
import time

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


# How long after a task a kept database connection is used by a job's task without
# Django's health check (CONN_HEALTH_CHECKS), a query of its own.
CONNECTION_TRUSTED_SECONDS = 1.0
_last_task_end = -math.inf


@task_prerun.connect
def _recycle_database_connections(sender=None, **_) -> None:
    """Drop connections that are too old or broke, as Django does before a request.

    Django also has a kept connection checked with a query before its next
    use: one round trip on every job, most of them right after the task
    before used it. For a job's task (runs.tasks.job_execute), whose first
    statement is made again on a new connection if the kept one broke
    (executor._job_claim), a connection is trusted when the task before
    ended less than CONNECTION_TRUSTED_SECONDS ago, unless it saw an error
    or outlived CONN_MAX_AGE. Every other task has its connections checked.
    """
    from django.db import close_old_connections, connections

    from runs.queue import JOB_EXECUTE

    now = time.monotonic()
    kept = connections.all(initialized_only=True)
    if (
        getattr(sender, "name", None) != JOB_EXECUTE
        or now - _last_task_end > CONNECTION_TRUSTED_SECONDS
        or any(c.errors_occurred for c in kept)
        or any(c.close_at is not None and now >= c.close_at for c in kept)
    ):
        close_old_connections()


@task_postrun.connect
def _note_task_end(**_) -> None:
    global _last_task_end
    _last_task_end = time.monotonic()


@worker_ready.connect
def _reconcile_at_start(**_) -> None:
    """A worker that starts (after a crash, say) has the database's backlog queued at once
    rather than at the next beat."""
    from runs import queue

    queue.reconcile()
