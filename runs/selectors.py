"""Reads for runs: the status document, lists, logs."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from runs.masking import outputs_shown
from runs.models import JobRun, LogChunk, Run
from runs.values import ResolvedInputs
from workflows.access import visible_to
from workflows.selectors import id_of

# The largest chunk the log writer makes; lets a page query start near its first line.
MAX_CHUNK_LINES = 5000


def _time(value) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def runs_of(user) -> QuerySet[Run]:
    """Runs of the user's teams (workflows.access.visible_to)."""
    return visible_to(user, Run.objects.all())


def run_with_everything(queryset: QuerySet[Run]) -> QuerySet[Run]:
    return queryset.select_related(
        "spec", "cluster", "workflow", "workflow__project", "created_by", "rerun_of"
    )


def _workflow_inputs_status(resolved: ResolvedInputs) -> dict:
    status = {}
    for name, value in resolved.workflow.items():
        entry = {"with": value.with_}
        if value.dataset is not None:
            entry["dataset"] = {"id": value.dataset.id}
        elif value.type == "string":
            entry["value"] = value.value
        status[name] = entry
    return status


def job_status(job: JobRun) -> dict:
    return {
        "phase": job.phase,
        "started": _time(job.started),
        "finished": _time(job.finished),
        "logId": job.log_id,
        "attempt": job.attempt,
        "exitCode": job.exit_code,
        "message": job.message,
        "outputs": outputs_shown(job.outputs),
        "reusedFrom": job.reused_from_run,
    }


def run_summary(run: Run) -> dict:
    """What a runs list shows of each run (no spec, no jobs)."""
    return {
        "id": run.number,
        "number": run.number,
        "workflowId": str(run.workflow_id),
        "cluster": {"id": run.cluster.handle, "kind": run.cluster.kind},
        "phase": run.phase,
        "cancelRequested": run.cancel_requested,
        "created": _time(run.created),
        "started": _time(run.started),
        "finished": _time(run.finished),
        "logId": run.log_id,
        "reason": run.reason,
        "rerunOf": run.rerun_of.number if run.rerun_of_id else None,
        "trigger": run.trigger or None,
        "createdBy": run.created_by.username if run.created_by_id else None,
    }


def run_status_document(run: Run, jobs: list[JobRun] | None = None) -> dict:
    """A run's status document, as docs/spec.md shows it; secret values never appear."""
    if jobs is None:
        jobs = list(run.jobs.all())
    return {
        **run_summary(run),
        "spec": run.spec.parsed,
        "inputs": run.inputs,
        "status": {
            "phase": run.phase,
            "started": _time(run.started),
            "finished": _time(run.finished),
            "logId": run.log_id,
            "message": run.message,
            "inputs": _workflow_inputs_status(ResolvedInputs.from_json(run.resolved_inputs)),
            "jobs": {job.name: job_status(job) for job in jobs},
        },
    }


def log_lines(job: JobRun, *, after_line: int = 0, limit: int = 1000) -> list[dict]:
    """Up to `limit` lines numbered after `after_line`, in order: {line, timestamp, message}."""
    lines: list[dict] = []
    chunks = (
        LogChunk.objects.filter(job=job, first_line__gt=after_line - MAX_CHUNK_LINES)
        .order_by("first_line")
        .values_list("first_line", "lines")
    )
    for first_line, chunk in chunks.iterator(chunk_size=20):
        for offset, (timestamp, message) in enumerate(chunk):
            number = first_line + offset
            if number > after_line:
                lines.append({"line": number, "timestamp": timestamp, "message": message})
                if len(lines) >= limit:
                    return lines
    return lines


def jobs_of(user) -> QuerySet[JobRun]:
    """Jobs of the runs in the user's teams (workflows.access.visible_to)."""
    return visible_to(user, JobRun.objects.all())


def run_list(
    *, workflow_id, phases: list[str] | None = None, reasons: list[str] | None = None
) -> QuerySet:
    """The ids of a workflow's runs, newest first: page them, then pass a page to run_summaries.

    Counting and paging over bare ids touch one index and no joined table;
    only the runs of the page are then read in full.
    """
    queryset = Run.objects.filter(workflow_id=workflow_id)
    if phases:
        queryset = queryset.filter(phase__in=phases)
    if reasons:
        queryset = queryset.filter(reason__in=reasons)
    return queryset.order_by("-number").values_list("pk", flat=True)


def run_summaries(run_ids) -> list[dict]:
    """run_summary of each run in `run_ids` (a page of run_list), newest first."""
    runs = Run.objects.filter(pk__in=list(run_ids)).summary().order_by("-number")
    return [run_summary(run) for run in runs]


# Every column of a job, so that job_status may read any of them from a row.
_JOB_COLUMNS = tuple(field.attname for field in JobRun._meta.concrete_fields)


def run_jobs(run: Run) -> list:
    """The run's jobs in run order, as named rows of every column, for run_status_document.

    Rows cost a fraction of model instances, which a 500-job run would
    otherwise create for every status document.
    """
    return list(
        JobRun.objects.filter(run=run).order_by("position").values_list(*_JOB_COLUMNS, named=True)
    )


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def run_get(*, user, workflow_id: object, number: object) -> Run | None:
    """Run number `number` of a workflow the user can see, ready for the status document.

    Only what the document shows is joined (the workflow and its project are
    loaded on demand by the writes that need them): every join of this
    busiest detail read costs planning time on PostgreSQL.
    """
    workflow_pk = _uuid_or_none(workflow_id)
    number = id_of(number)
    if workflow_pk is None or number is None:
        return None
    return (
        runs_of(user)
        .filter(workflow_id=workflow_pk, number=number)
        .with_rerun_number()
        .select_related("spec")
        .defer("spec__text")
        .order_by()
        .first()
    )


def job_get(*, user, workflow_id: object, number: object, job_name: str) -> JobRun | None:
    """A job of a run of a workflow the user can see, or None."""
    workflow_pk = _uuid_or_none(workflow_id)
    number = id_of(number)
    if workflow_pk is None or number is None:
        return None
    return (
        jobs_of(user)
        .filter(run__workflow_id=workflow_pk, run__number=number, name=job_name)
        .select_related("run")
        .first()
    )
