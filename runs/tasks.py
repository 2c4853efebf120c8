"""Celery tasks: thin, take ids, safe to receive twice."""

from celery import shared_task

from runs.engine.local import executor, scheduler


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_start(run_id: int) -> None:
    scheduler.run_begin(run_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def job_execute(job_id: int) -> None:
    executor.job_execute(job_id)


@shared_task(acks_late=True)
def run_cancel(run_id: int) -> None:
    scheduler.run_cancel_now(run_id)


@shared_task
def jobs_recover_lost() -> int:
    return executor.jobs_recover_lost()
