"""Celery tasks: thin, take ids, safe to receive twice."""

from celery import shared_task

from runs.engine.local import executor, scheduler
from runs.models import Run
from workflows.models import Cluster


def _on_argo(run_id: int) -> bool:
    return Run.objects.filter(pk=run_id, cluster__kind=Cluster.Kind.ARGO).exists()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_start(run_id: int) -> None:
    if _on_argo(run_id):
        from runs.engine.argo import engine

        engine.run_start(run_id)
        return
    scheduler.run_begin(run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def job_execute(job_id: int) -> None:
    executor.job_execute(job_id)


@shared_task(acks_late=True)
def run_cancel(run_id: int) -> None:
    if _on_argo(run_id):
        from runs.engine.argo import engine

        engine.run_cancel(run_id)
        return
    scheduler.run_cancel_now(run_id)


@shared_task
def jobs_recover_lost() -> int:
    return executor.jobs_recover_lost()
