"""The one place where run and job phases change.

Each move is a conditional UPDATE (`... WHERE phase IN (phases that may move
there)`), so of two workers racing for the same move exactly one wins, and a
move the state machine does not allow changes nothing. Every change that
happens is published through `runs.events.publish_on_commit`.
"""

from __future__ import annotations

from django.db import models, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from runs import rows
from runs.events import publish_on_commit
from runs.models import JobPhase, JobRun, Run, RunPhase
from runs.rows import Add

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
) -> bool:
    """Move a job to phase `to`; False when its current phase does not allow it.

    `expected` narrows the move to one current phase. `attempt` requires the
    job to be at that attempt, so a stale worker cannot finish an attempt that
    was retried meanwhile. Moving to RUNNING starts the next attempt and
    writes the first heartbeat. The move is one statement, which also returns
    what the event names, so it needs no transaction of its own.
    """
    if to not in JobPhase.values:
        raise UnknownPhase(to)
    sources = _sources(JOB_MOVES, to)
    if expected is not None:
        sources = [phase for phase in sources if phase == expected]
    now = timezone.now()
    changes: dict = {"phase": to}
    if to == JobPhase.RUNNING:
        changes.update(started=now, finished=None, heartbeat=now, attempt=Add(1), exit_code=None)
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
    where: dict = {"id": job_id, "phase": sources}
    if attempt is not None:
        where["attempt"] = attempt
    moved = rows.update(JobRun, where=where, values=changes, returning=("run", "name", "attempt"))
    if not moved:
        return False
    ((run_id, name, current_attempt),) = moved
    fields = {"job": name, "attempt": current_attempt}
    if exit_code is not None:
        fields["exitCode"] = exit_code
    publish_on_commit(run_id, _event("job.phase", to, now, message, **fields))
    return True
