"""Our rows in the shapes the gradient CLI's marshmallow schemas and tables read.

Ids are JSON strings (the CLI's `Str` fields show a number as `None`): a
project's and a cluster's handle, a workflow's UUID. Dates are ISO 8601, which
the CLI parses with dateutil.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from runs.models import JobRun, Run
from runs.selectors import run_summary
from workflows.models import Cluster, Project, Workflow

PSEOF = "PSEOF"

_CLUSTER_TYPES = {
    Cluster.Kind.LOCAL: "Local engine",
    Cluster.Kind.ARGO: "Argo Workflows on Kubernetes",
}


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def project_shape(project: Project) -> dict:
    """`projects list` needs a parseable `dtCreated` on every row: it formats it unchecked."""
    return {
        "id": project.handle,
        "handle": project.handle,
        "name": project.name,
        "teamId": project.team.handle,
        "repoName": None,
        "repoUrl": None,
        "dtCreated": _time(project.created),
        "tags": [],
    }


def workflow_shape(workflow: Workflow, *, with_spec: bool = False) -> dict:
    """`workflows create` reads `id` and `name`; `get` prints the whole object."""
    shape = {
        "id": str(workflow.id),
        "name": workflow.name,
        "projectId": workflow.project.handle,
        "teamId": workflow.project.team.handle,
        "dtCreated": _time(workflow.created),
    }
    if with_spec:
        shape["spec"] = workflow.default_spec.parsed if workflow.default_spec_id else None
    return shape


def run_row(run: Run) -> dict:
    """A row of `workflows get --show-runs`, whose table reads `status.phase` and `status.logId`."""
    return {
        **run_summary(run),
        "status": {
            "phase": run.phase,
            "started": _time(run.started),
            "finished": _time(run.finished),
            "logId": run.log_id,
        },
    }


def cluster_shape(cluster: Cluster) -> dict:
    return {
        "id": cluster.handle,
        "name": cluster.name,
        "type": _CLUSTER_TYPES.get(cluster.kind, cluster.kind),
        "teamId": cluster.team.handle,
    }


def log_rows(
    job: JobRun, lines: list[dict], *, ended: bool, requested_line: int, limit: int
) -> list[dict]:
    """A page of `/jobs/logs`: `{line, message, timestamp}` rows, then `PSEOF` once the job ended.

    The CLI crashes on a null `timestamp`. It stops at the first job whose
    answer is an empty list (printing "No logs found" and skipping the rest),
    so its first request (`line=0`) for a job with no output yet gets one row
    saying so. The SDK's follow loop starts at `line=1` and counts rows, so
    it never sees that row.
    """
    rows = [
        {
            "line": line["line"],
            "message": line["message"],
            "timestamp": str(line["timestamp"] or ""),
        }
        for line in lines
    ]
    if ended and len(rows) < limit:
        rows.append(
            {
                "line": rows[-1]["line"] + 1 if rows else max(requested_line, 1),
                "message": PSEOF,
                "timestamp": _time(job.finished or timezone.now()),
            }
        )
    elif not rows and requested_line == 0 and not ended:
        rows.append(
            {
                "line": 0,
                "message": f"(no output yet: the job is {job.phase})",
                "timestamp": _time(timezone.now()),
            }
        )
    return rows
