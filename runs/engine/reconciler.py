"""The reconciler: the database says what must run, and this makes it so.

Queuing is a one-shot message, and messages get lost: the broker is down
when a job ends, Redis restarts and forgets its queue (it keeps nothing on
disk), a worker dies between a commit and the message it meant to send. A
pass (the `runs_reconcile` task, every RECONCILE_SECONDS from beat and once
at every worker's start) reads the runs that have not ended and acts on what
their rows say:

- a PENDING run older than START_GRACE_SECONDS: its start is queued again;
- a run with cancel requested and jobs still PENDING: its cancel is queued
  again;
- a RUNNING local run: its PENDING jobs whose needs all succeeded are queued
  again, those behind a need that ended otherwise are skipped, and the run
  ends once every job is final;
- a RUNNING job whose worker stopped beating is retried or failed
  (executor.jobs_recover_lost).

Every action is idempotent: a task claims its row with a conditional update,
so a job queued twice still runs once, and moves go through
runs.transitions. Re-queuing happens only while the broker's queue is empty:
a message still waiting there will be taken in turn, and anything queued
again would wait behind it anyway, so a backlog of thousands of jobs is not
doubled every pass. A lost message therefore costs at most one pass after
the workers have caught up. Argo runs that have started are the watcher's
(runs.engine.argo.watcher), which applies their Workflow level by level.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from runs import queue
from runs.engine import run_end_if_done
from runs.engine.local import executor
from runs.engine.local.scheduler import ready_or_blocked, run_cancel_now, skip_downstream
from runs.models import JobPhase, Run, RunPhase
from runs.specs import spec_model
from runs.transitions import JOB_FINAL
from workflows.models import Cluster

logger = logging.getLogger(__name__)

# A run younger than this has its start message on the way (or being read).
START_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Reconciled:
    """What one pass did."""

    waiting: int | None  # messages in the broker's queue (None: the broker did not answer)
    started: int = 0  # runs whose start was queued again
    canceled: int = 0  # runs whose cancel was queued again
    queued: int = 0  # jobs queued again
    skipped: int = 0  # jobs skipped behind a need that did not succeed
    ended: int = 0  # runs ended because every job was final
    lost: int = 0  # running jobs whose worker was lost

    def as_dict(self) -> dict:
        return asdict(self)


def _open_runs():
    return (
        Run.objects.filter(phase__in=(RunPhase.PENDING, RunPhase.RUNNING))
        .select_related("cluster")
        .annotate(
            pending=Count("jobs", filter=Q(jobs__phase=JobPhase.PENDING)),
            unfinished=Count("jobs", filter=~Q(jobs__phase__in=JOB_FINAL)),
        )
        .order_by("pk")
    )


def _local_run_pass(run: Run, requeue: bool) -> tuple[int, int]:
    """Queue a RUNNING local run's ready jobs and skip its blocked ones; the counts."""
    spec = spec_model(run)
    phases = {name: (pk, phase) for pk, name, phase in run.jobs.values_list("pk", "name", "phase")}
    pending = [name for name, (_, phase) in phases.items() if phase == JobPhase.PENDING]
    ready, blocked = ready_or_blocked(spec, phases, pending)
    skipped = sum(len(skip_downstream(run, need)) for need in blocked)
    if not requeue:
        return 0, skipped
    queue.jobs_execute(ready)
    return len(ready), skipped


def reconcile() -> Reconciled:
    """One pass over the runs that have not ended; see the module's docstring."""
    lost = executor.jobs_recover_lost()
    waiting = queue.waiting_messages()
    requeue = waiting == 0
    cutoff = timezone.now() - timedelta(seconds=START_GRACE_SECONDS)
    started = canceled = queued = skipped = ended = 0
    for run in _open_runs():
        local = run.cluster.kind == Cluster.Kind.LOCAL
        if run.phase == RunPhase.PENDING:
            if requeue and run.created < cutoff:
                queue.run_start(run.pk)
                started += 1
        elif run.cancel_requested and run.pending:
            # Its cancel never ran (it cancels every PENDING job first).
            if local:
                run_cancel_now(run)
                canceled += 1
            elif requeue:
                queue.run_cancel(run.pk)
                canceled += 1
        elif local:
            run_skipped = 0
            if run.pending:
                run_queued, run_skipped = _local_run_pass(run, requeue)
                queued, skipped = queued + run_queued, skipped + run_skipped
            if (run_skipped or not run.unfinished) and run_end_if_done(run):
                ended += 1
    done = Reconciled(
        waiting=waiting,
        started=started,
        canceled=canceled,
        queued=queued,
        skipped=skipped,
        ended=ended,
        lost=lost,
    )
    if done != Reconciled(waiting=waiting):
        logger.info("reconciled: %s", done.as_dict())
    return done
