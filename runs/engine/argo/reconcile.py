"""Applying what Argo reports about a run's Workflow to the run and its jobs.

One pass takes the Workflow as last seen (or None when it is gone) and moves
each job forward through runs.transitions: attempts as Argo starts pods,
retries, final phases with outputs. Every move is conditional on the phase
and attempt it starts from, so a pass over a status already applied changes
nothing; a restarted watcher re-lists and reconciles without losing or
doubling anything.

Argo node phase -> our job phase: Pending stays PENDING (the pod is being
scheduled), Running -> RUNNING, Succeeded -> SUCCEEDED once outputs are
stored, Failed and Error -> FAILED (CANCELED when the run was canceled),
Skipped and Omitted -> SKIPPED.
"""

from __future__ import annotations

import functools
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.db import IntegrityError, transaction

from runs.engine import run_end_if_done
from runs.engine.argo.artifacts import ArtifactError, ArtifactStore
from runs.engine.argo.compiler import task_names
from runs.engine.argo.kube import Apis
from runs.engine.argo.status import (
    NODE_FAILED,
    NODE_NOT_RUN,
    WORKFLOW_FINAL,
    Attempt,
    StatusUnreadable,
    TaskView,
    task_views,
    workflow_message,
    workflow_phase,
)
from runs.masking import outputs_masked, run_secret_mask
from runs.models import JobPhase, JobRun, Run, RunPhase
from runs.services import job_model_register
from runs.specs import spec_model
from runs.transitions import (
    JOB_FINAL,
    RUN_FINAL,
    job_transition,
    jobs_skip_downstream,
    run_transition,
    skip_message,
)
from runs.values import (
    AttemptRecord,
    DatasetOutput,
    EngineState,
    Output,
    ResolvedInputs,
    StringOutput,
    VersionSlot,
    VolumeOutput,
    attempts_to_json,
    outputs_to_json,
)
from workflows.models import DatasetVersion, RegisteredModel
from workflows.services import dataset_version_commit, staging_folder
from workflows.spec import Job, WorkflowSpec, string_output_problem
from workflows.spec.durations import format_duration

_MISSING_OUTPUT = re.compile(r"/outputs/([A-Za-z0-9_-]+)")


class LogSink(Protocol):
    """Stores pods' logs; says whether an attempt's log is stored to its end."""

    def complete(self, job_run: JobRun, attempt: Attempt, attempt_final: bool) -> bool: ...


class OutputError(Exception):
    """An output the job did not produce as its type requires; the message names it."""


@functools.lru_cache(maxsize=64)
def _task_names(job_names: tuple[str, ...]) -> tuple[dict[str, str], frozenset[str]]:
    names = task_names(job_names)
    return names, frozenset(names.values())


def _tasks(spec: WorkflowSpec) -> tuple[dict[str, str], frozenset[str]]:
    """Job name -> task name, and the set of task names (the same as the compiler's)."""
    return _task_names(spec.job_names)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass
class Pass:
    """One reconcile pass over one run."""

    run: Run
    state: EngineState
    spec: WorkflowSpec
    logs: LogSink
    apis: Apis | None
    rows: dict[str, JobRun] = field(default_factory=dict)
    _store: ArtifactStore | None = None

    @property
    def canceled(self) -> bool:
        return self.run.cancel_requested

    def store(self) -> ArtifactStore:
        if self._store is None:
            if self.apis is None:
                raise ArtifactError("the cluster's API is not available to read credentials")
            self._store = ArtifactStore(self.run.cluster.settings or {}, self.apis)
        return self._store

    def move(self, row: JobRun, to: str, **changes) -> bool:
        """A conditional transition from the row's phase and attempt; updates the row."""
        moved = job_transition(
            job_id=row.pk,
            to=to,
            expected=row.phase,
            attempt=row.attempt,
            **changes,
        )
        if moved:
            row.attempt += to == JobPhase.RUNNING
            row.phase = to
        return moved


def _records(attempts: list[Attempt]) -> list[dict]:
    return attempts_to_json(
        [
            AttemptRecord(
                attempt=attempt.number,
                started=attempt.started,
                finished=attempt.finished,
                exit_code=attempt.exit_code,
                message=attempt.message,
                pod=attempt.pod,
            )
            for attempt in attempts
        ]
    )


def _failure(job: Job, message: str, exit_code: int | None, phase: str) -> str:
    """Argo's account of a failure, in the local engine's words where they exist."""
    found = _MISSING_OUTPUT.search(message)
    if found and "no such file" in message.lower():
        output = job.outputs.get(found.group(1))
        if output is not None and output.type == "string":
            return (
                f'the string output "{found.group(1)}" is missing: the job must write the file '
                f"/outputs/{found.group(1)}"
            )
    if job.timeout_seconds and "deadline" in message.lower():
        return f"timed out after {format_duration(job.timeout_seconds)} (the job's timeout)"
    if exit_code not in (None, 0):
        return f"exited with code {exit_code}"
    return message or f"Argo reports the job {phase}"


def _attempt_failure(job: Job, attempt: Attempt) -> str:
    return _failure(job, attempt.message, attempt.exit_code, attempt.phase)


def _started(row: JobRun, attempt: Attempt) -> None:
    started = _time(attempt.started)
    if started is not None:
        JobRun.objects.filter(pk=row.pk, attempt=row.attempt).update(started=started)


def _finished(row: JobRun, view: TaskView) -> None:
    finished = _time(view.finished)
    if finished is not None:
        JobRun.objects.filter(pk=row.pk).update(finished=finished)


def _catch_up(ctx: Pass, row: JobRun, job: Job, view: TaskView) -> bool:
    """Move the job through the attempts Argo has started; False to wait for logs or a race."""
    for attempt in view.attempts:
        if row.attempt >= attempt.number:
            continue
        if row.phase == JobPhase.RUNNING:
            # Argo has made the next attempt: the one we show has failed.
            previous = view.attempts[row.attempt - 1]
            if not previous.final or not ctx.logs.complete(row, previous, True):
                return False
            message = (
                f"attempt {previous.number} failed ({_attempt_failure(job, previous)}); "
                f"retrying, attempt {previous.number + 1} of {job.retries + 1}"
            )
            if not ctx.move(
                row,
                JobPhase.PENDING,
                message=message,
                exit_code=previous.exit_code,
                attempts=_records(view.attempts[: previous.number]),
            ):
                return False
        if not attempt.began:
            break
        if row.phase != JobPhase.PENDING or not ctx.move(row, JobPhase.RUNNING):
            return False
        _started(row, attempt)
    return True


def _apply(ctx: Pass, row: JobRun, job: Job, view: TaskView) -> None:
    if not _catch_up(ctx, row, job, view):
        return
    logs_complete = True
    if row.phase == JobPhase.RUNNING and 0 < row.attempt <= len(view.attempts):
        current = view.attempts[row.attempt - 1]
        logs_complete = ctx.logs.complete(row, current, current.final)
    if not view.final or not logs_complete:
        return
    records = _records(view.attempts)
    if view.phase == "Succeeded" and row.phase == JobPhase.RUNNING:
        _succeed(ctx, row, job, view, records)
    elif view.phase in NODE_FAILED:
        last = view.attempts[-1] if view.attempts else None
        exit_code = view.exit_code if view.exit_code is not None else (last and last.exit_code)
        if ctx.canceled:
            moved = ctx.move(row, JobPhase.CANCELED, message="canceled", attempts=records)
        else:
            message = last.message if last is not None and last.message else view.message
            moved = ctx.move(
                row,
                JobPhase.FAILED,
                message=_failure(job, message, exit_code, view.phase),
                exit_code=exit_code,
                attempts=records,
            )
        if moved:
            _finished(row, view)
    elif view.phase in NODE_NOT_RUN:
        if row.phase == JobPhase.PENDING:
            to = JobPhase.CANCELED if ctx.canceled else JobPhase.SKIPPED
            ctx.move(row, to, message="canceled" if ctx.canceled else _skip_reason(ctx, job, view))
        else:
            ctx.move(row, JobPhase.FAILED, message=view.message or f"Argo {view.phase} the job")


def _skip_reason(ctx: Pass, job: Job, view: TaskView) -> str:
    for need in job.needs:
        if ctx.rows[need].phase != JobPhase.SUCCEEDED:
            return skip_message(need)
    return f"skipped: {view.message}" if view.message else "skipped by Argo"


def _succeed(ctx: Pass, row: JobRun, job: Job, view: TaskView, records: list[dict]) -> None:
    try:
        outputs = _outputs(ctx, row, job, view)
    except OutputError as error:
        if ctx.move(row, JobPhase.FAILED, message=str(error), exit_code=0, attempts=records):
            _finished(row, view)
            _skip_downstream(ctx, job.name)
        return
    if any(isinstance(output, StringOutput) for output in outputs.values()):
        outputs = outputs_masked(outputs, run_secret_mask(ctx.run))
    stored = outputs_to_json(outputs)
    if ctx.move(row, JobPhase.SUCCEEDED, exit_code=0, outputs=stored, attempts=records):
        _finished(row, view)


def _skip_downstream(ctx: Pass, failed: str) -> None:
    """Argo saw the job succeed, we did not (an output was unusable): skip what needs it."""
    pending = {name: row.pk for name, row in ctx.rows.items() if row.phase == JobPhase.PENDING}
    for name in jobs_skip_downstream(spec=ctx.spec, failed=failed, pending=pending):
        ctx.rows[name].phase = JobPhase.SKIPPED


def _outputs(ctx: Pass, row: JobRun, job: Job, view: TaskView) -> dict[str, Output]:
    outputs: dict[str, Output] = {}
    for name, output in job.outputs.items():
        if output.type == "string":
            value = view.parameters.get(name)
            problem = string_output_problem(name, value)
            if problem:
                raise OutputError(problem)
            outputs[name] = StringOutput(value)
        elif output.type == "volume":
            outputs[name] = VolumeOutput(f"{row.run_id}/{job.name}/{name}")
    for name, output in job.outputs.items():
        if output.type == "dataset":
            reserved = ctx.state.datasets[job.name][name]
            version = _commit(ctx, name, reserved)
            outputs[name] = DatasetOutput(
                id=f"{reserved.name}:{version.version}", version_id=version.pk
            )
    if job.action == "create-model":
        _register_model(ctx, row, job)
    return outputs


def _commit(ctx: Pass, output: str, reserved: VersionSlot) -> DatasetVersion:
    """Download the job's dataset output into the store and commit its version (once)."""
    version = DatasetVersion.objects.filter(pk=reserved.version_id).first()
    if version is None:
        raise OutputError(
            f'the dataset version reserved for output "{output}" no longer exists (was the '
            "dataset deleted?)"
        )
    if version.is_committed:
        return version
    staged = staging_folder()
    try:
        store = ctx.store()
        store.download_into(store.key(reserved.dataset_id, reserved.version), staged)
        try:
            return dataset_version_commit(version=version, staged=staged)
        except OSError:
            # Another pass committed it first: the rename into place is atomic.
            version.refresh_from_db()
            if version.is_committed:
                return version
            raise
    except ArtifactError as error:
        raise OutputError(f'the dataset output "{output}" could not be stored: {error}') from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _model_version_id(ctx: Pass, job: Job) -> int:
    source = job.inputs["model"].source
    if source.kind == "job":
        return ctx.state.datasets[source.job][source.output].version_id
    resolved = ResolvedInputs.from_json(ctx.run.resolved_inputs)
    return resolved.job_input(ctx.spec, job, "model").dataset.version_id


def _register_model(ctx: Pass, row: JobRun, job: Job) -> None:
    model_id = ctx.state.models[job.name]
    if RegisteredModel.objects.filter(pk=model_id).exists():
        return
    try:
        with transaction.atomic():
            job_model_register(
                job=row,
                id=model_id,
                project_id=ctx.run.workflow.project_id,
                name=str(job.params["name"]),
                model_type=str(job.params.get("type") or "Custom"),
                dataset_version_id=_model_version_id(ctx, job),
            )
    except IntegrityError:
        if not RegisteredModel.objects.filter(pk=model_id).exists():
            raise


def _settle_rest(ctx: Pass, views: dict[str, TaskView], message: str) -> None:
    """The Workflow has ended (or is gone): jobs Argo never finished end here."""
    tasks, _ = _tasks(ctx.spec)
    for job in ctx.spec.jobs:
        row = ctx.rows[job.name]
        view = views.get(tasks[job.name])
        if row.phase in JOB_FINAL or (view is not None and view.final):
            continue
        if ctx.canceled:
            ctx.move(row, JobPhase.CANCELED, message="canceled")
        elif row.phase == JobPhase.PENDING:
            ctx.move(row, JobPhase.SKIPPED, message=f"not run: {message}")
        else:
            ctx.move(row, JobPhase.FAILED, message=message)


def reconcile_run(run_id: int, workflow: dict | None, logs: LogSink, apis: Apis | None) -> None:
    """Apply the Workflow as last seen (None: it no longer exists) to the run and its jobs."""
    run = Run.objects.select_related("cluster", "workflow").get(pk=run_id)
    if run.phase in RUN_FINAL:
        return
    state = EngineState.from_json(run.engine_state)
    if workflow is not None:
        metadata = workflow["metadata"]
        if metadata.get("name") != state.name:
            return
        if state.uid and metadata.get("uid") != state.uid:
            return
    elif not state.uid:
        return
    spec = spec_model(run)
    ctx = Pass(run=run, state=state, spec=spec, logs=logs, apis=apis)
    rows = run.jobs.only("pk", "run_id", "name", "phase", "attempt")
    ctx.rows = {row.name: row for row in rows}
    if workflow is None:
        _settle_rest(ctx, {}, "the Argo Workflow was deleted before it finished")
        run_end_if_done(run, message="the Argo Workflow was deleted before it finished")
        return
    if run.phase == RunPhase.PENDING:
        run_transition(run_id=run.pk, to=RunPhase.RUNNING)
    tasks, _ = _tasks(spec)
    open_tasks = {tasks[name] for name, row in ctx.rows.items() if row.phase not in JOB_FINAL}
    try:
        views = task_views(workflow, open_tasks)
    except StatusUnreadable as error:
        _settle_rest(ctx, {}, str(error))
        run_end_if_done(run, message=str(error))
        return
    for job in spec.jobs:
        row = ctx.rows[job.name]
        view = views.get(tasks[job.name])
        if view is not None and row.phase not in JOB_FINAL:
            _apply(ctx, row, job, view)
    phase = workflow_phase(workflow)
    message = workflow_message(workflow)
    if phase in WORKFLOW_FINAL:
        _settle_rest(ctx, views, message or f"the Argo Workflow ended {phase}")
    run_end_if_done(run, message=message if phase in ("Failed", "Error") else None)
