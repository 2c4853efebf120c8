"""The one place where run and job phases change.

Each move is a conditional UPDATE (`... WHERE phase IN (phases that may move
there)`), so of two workers racing for the same move exactly one wins, and a
move the state machine does not allow changes nothing. Every change that
happens is published through `runs.events.publish_on_commit`.

The moves every engine makes the same way live here once too: ending a run
when its last job is final (`run_finish_if_done`), skipping what a failed job
blocks (`jobs_skip_downstream`) and canceling what has not started
(`jobs_cancel_pending`). What an engine frees after a run's end is its own
(runs.engine.run_end_if_done).
"""

from __future__ import annotations

from django.db import models, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from runs import rows
from runs.events import publish_on_commit
from runs.logs import LogLines
from runs.models import JobPhase, JobRun, Run, RunPhase
from runs.rows import Add
from workflows.spec import WorkflowSpec

RUN_MOVES: dict[str, frozenset[str]] = {
    RunPhase.PENDING: frozenset({RunPhase.RUNNING, RunPhase.FAILED, RunPhase.CANCELED}),
    RunPhase.RUNNING: frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED}),
}

JOB_MOVES: dict[str, frozenset[str]] = {
    JobPhase.PENDING: frozenset(
        {JobPhase.RUNNING, JobPhase.FAILED, JobPhase.SKIPPED, JobPhase.CANCELED}
    ),
    # RUNNING -> PENDING is a retry: the job waits for its next attempt.
    JobPhase.RUNNING: frozenset(
        {JobPhase.PENDING, JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.CANCELED}
    ),
}

RUN_FINAL = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED})
JOB_FINAL = frozenset({JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.SKIPPED, JobPhase.CANCELED})
JOB_ACTIVE = frozenset(JobPhase.values) - JOB_FINAL


class UnknownPhase(ValueError):
    """A phase name that is not one of the state machine's."""


def _sources(moves: dict[str, frozenset[str]], to: str) -> list[str]:
    """The phases from which a move to `to` is allowed."""
    return [phase for phase, targets in moves.items() if to in targets]


def _event(kind: str, to: str, now, message: str | None, **fields) -> dict:
    event = {"type": kind, "phase": to, "at": now.isoformat(), **fields}
    if message:
        event["message"] = message
    return event


def run_transition(*, run_id: int, to: str, message: str | None = None) -> bool:
    """Move a run to phase `to`; False when its current phase does not allow it."""
    if to not in RunPhase.values:
        raise UnknownPhase(to)
    now = timezone.now()
    changes: dict = {"phase": to}
    if to == RunPhase.RUNNING:
        changes["started"] = Coalesce("started", Value(now, output_field=models.DateTimeField()))
    if to in RUN_FINAL:
        changes["finished"] = now
    if message is not None:
        changes["message"] = message
    with transaction.atomic():
        moved = Run.objects.filter(pk=run_id, phase__in=_sources(RUN_MOVES, to)).update(**changes)
        if moved:
            publish_on_commit(run_id, _event("run.phase", to, now, message))
    return bool(moved)


def job_transition(
    *,
    job_id: int,
    to: str,
    expected: str | None = None,
    attempt: int | None = None,
    message: str | None = None,
    exit_code: int | None = None,
    outputs: dict | None = None,
    attempts: list | None = None,
    last_lines: LogLines | None = None,
) -> bool:
    """Move a job to phase `to`; False when its current phase does not allow it.

    `expected` narrows the move to one current phase. `attempt` requires the
    job to be at that attempt, so a stale worker cannot finish an attempt that
    was retried meanwhile. Moving to RUNNING starts the next attempt and
    writes the first heartbeat. The move is one statement, which also returns
    what the event names, so it needs no transaction of its own. A job's
    `last_lines` (LogWriter.last_lines) are stored and counted by the same
    statement, and only if the job moves: a job is never final before its
    log is complete, and its end costs one round trip.
    """
    if to not in JobPhase.values:
        raise UnknownPhase(to)
    sources = _sources(JOB_MOVES, to)
    if expected is not None:
        sources = [phase for phase in sources if phase == expected]
    now = timezone.now()
    changes: dict = {"phase": to}
    if to == JobPhase.RUNNING:
        changes.update(_attempt_start(now))
    if to in JOB_FINAL:
        changes["finished"] = now
    if message is not None:
        changes["message"] = message
    if exit_code is not None:
        changes["exit_code"] = exit_code
    if outputs is not None:
        changes["outputs"] = outputs
    if attempts is not None:
        changes["attempts"] = attempts
    if last_lines is not None:
        changes["log_line_count"] = Add(len(last_lines.lines))
    where: dict = {"id": job_id, "phase": sources}
    if attempt is not None:
        where["attempt"] = attempt
    moved = rows.update(
        JobRun,
        where=where,
        values=changes,
        returning=("run", "name", "attempt"),
        then_insert=last_lines.row() if last_lines is not None else None,
    )
    if not moved:
        return False
    ((run_id, name, current_attempt),) = moved
    if last_lines is not None:
        publish_on_commit(run_id, last_lines.event())
    _job_moved(run_id, name, current_attempt, to, now, message, exit_code)
    return True


def _job_moved(
    run_id: int,
    name: str,
    attempt: int,
    to: str,
    now,
    message: str | None = None,
    exit_code: int | None = None,
) -> None:
    """Publish the `job.phase` event of a move that happened."""
    fields = {"job": name, "attempt": attempt}
    if exit_code is not None:
        fields["exitCode"] = exit_code
    publish_on_commit(run_id, _event("job.phase", to, now, message, **fields))


def _attempt_start(now) -> dict:
    """What moving a job to RUNNING writes: its next attempt starts, with a first heartbeat."""
    return {
        "started": now,
        "finished": None,
        "heartbeat": now,
        "attempt": Add(1),
        "exit_code": None,
    }


def job_claim(*, job_id: int, read: rows.PreparedGet[JobRun]) -> JobRun | None:
    """Start the next attempt of a PENDING job whose run is not being canceled, and read it.

    The job is moved to RUNNING as `job_transition` moves it, and returned as
    `read` reads it (with its run, say) once moved; None when it did not
    move. On PostgreSQL the move and the read are one round trip
    (rows.PreparedGet.update_then_get): a worker makes them on every job.
    """
    now = timezone.now()
    job = read.update_then_get(
        job_id,
        where={
            "phase": [JobPhase.PENDING],
            "run": rows.Related(Run, {"cancel_requested": False}),
        },
        values={"phase": JobPhase.RUNNING, **_attempt_start(now)},
    )
    if job is not None:
        _job_moved(job.run_id, job.name, job.attempt, JobPhase.RUNNING, now)
    return job


def skip_message(failed: str) -> str:
    return f'skipped: it needs "{failed}", which did not succeed'


def jobs_skip_downstream(*, spec: WorkflowSpec, failed: str, pending: dict[str, int]) -> list[str]:
    """Skip the jobs among `pending` (name -> id) that need `failed`, directly or not.

    Returns the names it skipped; a job that moved on meanwhile is left alone.
    """
    return [
        job.name
        for job in spec.jobs
        if job.name in pending
        and failed in job.upstream
        and job_transition(
            job_id=pending[job.name],
            to=JobPhase.SKIPPED,
            expected=JobPhase.PENDING,
            message=skip_message(failed),
        )
    ]


def jobs_cancel_pending(*, run_id: int) -> int:
    """Flag the run canceled and cancel its jobs that have not started; how many were."""
    Run.objects.filter(pk=run_id).update(cancel_requested=True)
    pending = JobRun.objects.filter(run_id=run_id, phase=JobPhase.PENDING)
    return sum(
        job_transition(
            job_id=job_id, to=JobPhase.CANCELED, expected=JobPhase.PENDING, message="canceled"
        )
        for job_id in pending.values_list("pk", flat=True)
    )


def run_final_phase(*, job_phases: set[str], cancel_requested: bool) -> str:
    """The phase a run ends with once all its jobs are final."""
    if cancel_requested or JobPhase.CANCELED in job_phases:
        return RunPhase.CANCELED
    if job_phases == {JobPhase.SUCCEEDED}:
        return RunPhase.SUCCEEDED
    return RunPhase.FAILED


def run_finish_if_done(*, run_id: int, message: str | None = None) -> str | None:
    """End the run once every job has a final phase; the phase it ended with, or None.

    `message` (an engine's account of a failure, Argo's say) is kept on a
    FAILED run only. None also when the run has not ended here: a job is not
    final yet, or the run had already ended.
    """
    jobs = JobRun.objects.filter(run_id=run_id)
    if jobs.filter(phase__in=JOB_ACTIVE).exists():
        return None
    job_phases = set(jobs.order_by().values_list("phase", flat=True).distinct())
    cancel_requested = Run.objects.filter(pk=run_id, cancel_requested=True).exists()
    final = run_final_phase(job_phases=job_phases, cancel_requested=cancel_requested)
    text = message if final == RunPhase.FAILED else None
    return final if run_transition(run_id=run_id, to=final, message=text) else None
