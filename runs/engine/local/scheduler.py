"""Which jobs of a local run start when, and when the run ends.

Nothing polls on the way: a run's start queues the jobs with no needs, and
each job's end queues the dependents it made ready, skips what can no longer
run, and ends the run when nothing is left. Every phase change goes through
runs.transitions, every message through runs.queue. A message that was lost
costs one pass of the reconciler (runs.engine.reconciler), which asks
`ready_or_blocked` the same question from the database.
"""

from __future__ import annotations

import functools
import shutil

from django.db import transaction

from runs import queue
from runs.engine import Problem, run_end_if_done
from runs.engine.local.workspace import run_folder
from runs.models import JobPhase, JobRun, Run, RunPhase
from runs.specs import spec_model
from runs.transitions import (
    JOB_FINAL,
    jobs_cancel_pending,
    jobs_skip_downstream,
    run_transition,
)
from workflows.clusters import cluster_shapes, instance_type_problems
from workflows.models import Cluster
from workflows.spec import WorkflowSpec


class LocalEngine:
    """Runs on the local engine: each job a Celery task in a bubblewrap sandbox."""

    def check(self, spec: WorkflowSpec, cluster: Cluster) -> list[Problem]:
        """An instance type the cluster does not define; InstanceTypeError when the
        cluster's own shapes cannot be read.

        A local cluster that defines none runs every job unlimited, whatever
        type the spec names, as Gradient specs written for other clusters expect.
        """
        if not cluster.instance_types and not cluster.default_instance_type:
            return []
        shapes = cluster_shapes(cluster)
        return list(
            instance_type_problems(
                spec, spec.jobs, shapes.instance_types, shapes.default_instance_type
            )
        )

    def start(self, run: Run) -> None:
        run_begin(run)

    def cancel(self, run: Run) -> None:
        run_cancel_now(run)

    def release(self, run: Run) -> None:
        folder = run_folder(run.pk)
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))


def _phases(run: Run, names=None) -> dict[str, tuple[int, str]]:
    jobs = run.jobs.all() if names is None else run.jobs.filter(name__in=list(names))
    return {name: (pk, phase) for pk, name, phase in jobs.values_list("pk", "name", "phase")}


def ready_or_blocked(
    spec: WorkflowSpec, phases: dict[str, tuple[int, str]], names
) -> tuple[list[int], list[str]]:
    """Of the PENDING jobs among `names`: the ids of those whose needs all succeeded,
    and the needs that ended otherwise (what blocks the rest)."""
    ready, blocked = [], set()
    for name in names:
        job_id, phase = phases[name]
        if phase != JobPhase.PENDING:
            continue
        needs = spec.job(name).needs
        if all(phases[need][1] == JobPhase.SUCCEEDED for need in needs):
            ready.append(job_id)
        blocked.update(
            need
            for need in needs
            if phases[need][1] in JOB_FINAL and phases[need][1] != JobPhase.SUCCEEDED
        )
    return ready, sorted(blocked)


def _ready(run: Run, names) -> list[int]:
    """The jobs among `names` that wait only for jobs that succeeded."""
    spec = spec_model(run)
    wanted = set(names)
    for name in names:
        wanted.update(spec.job(name).needs)
    return ready_or_blocked(spec, _phases(run, wanted), names)[0]


def run_begin(run: Run) -> None:
    """Start a PENDING run: mark it RUNNING and queue every job without needs."""
    if run.cancel_requested:
        run_cancel_now(run)
        return
    if not run_transition(run_id=run.pk, to=RunPhase.RUNNING):
        return
    queue.jobs_execute(_ready(run, spec_model(run).job_names))


def skip_downstream(run: Run, failed: str) -> list[str]:
    """Skip the PENDING jobs of the run that need `failed`, which did not succeed."""
    pending = {name: pk for name, (pk, phase) in _phases(run).items() if phase == JobPhase.PENDING}
    return jobs_skip_downstream(spec=spec_model(run), failed=failed, pending=pending)


def job_settled(job_run: JobRun, phase: str) -> None:
    """After a job reached final `phase`: start what it made ready, skip what it blocks,
    and end the run when nothing is left.

    A dependent that needs only this job is queued without reading its phase:
    it is ready unless it is no longer PENDING, and then its task's claim does
    nothing (and a canceled run's task cancels it rather than running it).
    A run with a job just queued is not over, so it is not asked; should that
    job have ended meanwhile (canceled), its task ends the run instead
    (executor.job_execute).
    """
    run = job_run.run
    queued = []
    if phase == JobPhase.SUCCEEDED:
        spec = spec_model(run)
        direct, shared = [], []
        for name in spec.dependents(job_run.name):
            (direct if spec.job(name).needs == (job_run.name,) else shared).append(name)
        ids = _job_ids(run.log_id, run.pk) if direct else {}
        queued = [ids[name] for name in direct] + (_ready(run, shared) if shared else [])
        queue.jobs_execute(queued)
    else:
        skip_downstream(run, job_run.name)
    if not queued:
        run_end_if_done(run)


@functools.lru_cache(maxsize=64)
def _job_ids(run_log_id: str, run_id: int) -> dict[str, int]:
    """Job name -> id of a run; a run's jobs never change, so each process reads them once."""
    return dict(JobRun.objects.filter(run_id=run_id).values_list("name", "pk"))


def run_cancel_now(run: Run) -> None:
    """Cancel what has not started; running jobs see the flag and stop themselves."""
    jobs_cancel_pending(run_id=run.pk)
    run_end_if_done(run)
