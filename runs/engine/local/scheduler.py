"""Which jobs of a local run start when, and when the run ends.

Nothing polls: a run's start enqueues the jobs with no needs, and each job's
end enqueues the dependents it made ready, skips what can no longer run, and
ends the run when nothing is left. Every phase change goes through
runs.transitions.
"""

from __future__ import annotations

import functools
import shutil

from django.db import transaction

from runs.engine.local.workspace import run_folder
from runs.models import JobPhase, JobRun, Run, RunPhase
from runs.specs import spec_model
from runs.transitions import JOB_FINAL, job_transition, run_transition


def _enqueue(job_ids: list[int]) -> None:
    from runs.tasks import job_execute

    for job_id in job_ids:
        transaction.on_commit(lambda job_id=job_id: job_execute.delay(job_id))


def _phases(run: Run, names=None) -> dict[str, tuple[int, str]]:
    jobs = run.jobs.all() if names is None else run.jobs.filter(name__in=list(names))
    return {name: (pk, phase) for pk, name, phase in jobs.values_list("pk", "name", "phase")}


def _ready(run: Run, names) -> list[int]:
    """The jobs among `names` that wait only for jobs that succeeded."""
    spec = spec_model(run)
    wanted = set(names)
    for name in names:
        wanted.update(spec.job(name).needs)
    phases = _phases(run, wanted)
    return [
        phases[name][0]
        for name in names
        if phases[name][1] == JobPhase.PENDING
        and all(phases[need][1] == JobPhase.SUCCEEDED for need in spec.job(name).needs)
    ]


def run_begin(run_id: int) -> None:
    """Start a PENDING run: mark it RUNNING and enqueue every job without needs."""
    run = Run.objects.get(pk=run_id)
    if run.cancel_requested:
        run_cancel_now(run_id)
        return
    if not run_transition(run_id=run_id, to=RunPhase.RUNNING):
        return
    _enqueue(_ready(run, spec_model(run).job_names))


def _skip_downstream(run: Run, failed: str) -> None:
    spec = spec_model(run)
    phases = _phases(run)
    for job in spec.jobs:
        if failed in job.upstream and phases[job.name][1] == JobPhase.PENDING:
            job_transition(
                job_id=phases[job.name][0],
                to=JobPhase.SKIPPED,
                message=f'skipped: it needs "{failed}", which did not succeed',
            )


def job_settled(job_run: JobRun, phase: str) -> None:
    """After a job reached final `phase`: start what it made ready, skip what it blocks.

    A dependent that needs only this job is queued without reading its phase:
    it is ready unless it is no longer PENDING, and then its task's claim does
    nothing (and a canceled run's task cancels it rather than running it).
    """
    run = job_run.run
    if phase == JobPhase.SUCCEEDED:
        spec = spec_model(run)
        direct, shared = [], []
        for name in spec.dependents(job_run.name):
            (direct if spec.job(name).needs == (job_run.name,) else shared).append(name)
        ids = _job_ids(run.log_id, run.pk) if direct else {}
        _enqueue([ids[name] for name in direct] + (_ready(run, shared) if shared else []))
    else:
        _skip_downstream(run, job_run.name)
    run_finish_if_done(run.pk)


@functools.lru_cache(maxsize=64)
def _job_ids(run_log_id: str, run_id: int) -> dict[str, int]:
    """Job name -> id of a run; a run's jobs never change, so each process reads them once."""
    return dict(JobRun.objects.filter(run_id=run_id).values_list("name", "pk"))


def run_finish_if_done(run_id: int) -> None:
    """End the run once every job has a final phase."""
    if JobRun.objects.filter(run_id=run_id).exclude(phase__in=JOB_FINAL).exists():
        return
    run = Run.objects.get(pk=run_id)
    phases = set(run.jobs.values_list("phase", flat=True))
    if run.cancel_requested or JobPhase.CANCELED in phases:
        final = RunPhase.CANCELED
    elif phases == {JobPhase.SUCCEEDED}:
        final = RunPhase.SUCCEEDED
    else:
        final = RunPhase.FAILED
    if run_transition(run_id=run_id, to=final):
        transaction.on_commit(lambda: shutil.rmtree(run_folder(run_id), ignore_errors=True))


def run_cancel_now(run_id: int) -> None:
    """Cancel what has not started; running jobs see the flag and stop themselves."""
    Run.objects.filter(pk=run_id).update(cancel_requested=True)
    for job_id in JobRun.objects.filter(run_id=run_id, phase=JobPhase.PENDING).values_list(
        "pk", flat=True
    ):
        job_transition(
            job_id=job_id, to=JobPhase.CANCELED, expected=JobPhase.PENDING, message="canceled"
        )
    run_finish_if_done(run_id)
