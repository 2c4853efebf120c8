"""Celery tasks: thin, take ids, safe to receive twice.

Only runs.queue sends them (by name); they call into the engines, which never
import this module back.
"""

from celery import shared_task

from runs.engine import engine_for, reconciler
from runs.engine.local import executor
from runs.models import Run


def _run(run_id: int) -> Run:
    return Run.objects.select_related("cluster", "workflow__project__team").get(pk=run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_start(run_id: int) -> None:
    run = _run(run_id)
    engine_for(run.cluster).start(run)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def job_execute(job_id: int) -> None:
    executor.job_execute(job_id)


@shared_task(acks_late=True)
def run_cancel(run_id: int) -> None:
    run = _run(run_id)
    engine_for(run.cluster).cancel(run)


@shared_task
def runs_reconcile() -> dict:
    return reconciler.reconcile().as_dict()
