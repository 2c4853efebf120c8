"""A project with datasets, a workflow and finished runs, seen by an owner, a member and an
outsider (the fixtures of tests/conftest.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from django.utils import timezone

from runs.models import JobRun, LogChunk, Run
from runs.services import run_submit
from tests.specs import LISTING
from workflows.models import Cluster, DatasetVersion, Project, Workflow
from workflows.services import (
    dataset_create,
    dataset_version_upload,
    project_create,
    secret_set,
    workflow_create,
    workflow_spec_update,
)


@dataclass
class Scene:
    project: Project
    workflow: Workflow
    run: Run
    second: Run
    produced: DatasetVersion


def _finish(run: Run, produced: DatasetVersion | None, seconds: int) -> None:
    """Mark a run and its jobs finished, as the engine would have."""
    started = timezone.now() - timezone.timedelta(seconds=seconds + 5)
    finished = started + timezone.timedelta(seconds=seconds)
    outputs = {"note": {"value": "42 files"}}
    if produced is not None:
        outputs["listing"] = {
            "dataset": {
                "id": f"listings:{produced.version}",
                "isCommitted": True,
                "versionId": produced.pk,
            }
        }
    JobRun.objects.filter(run=run, name="prepare").update(
        phase="SUCCEEDED",
        started=started,
        finished=finished,
        attempt=1,
        exit_code=0,
        outputs=outputs,
        log_line_count=3,
        attempts=[
            {
                "attempt": 1,
                "started": started.isoformat(),
                "finished": finished.isoformat(),
                "exitCode": 0,
                "message": "",
            }
        ],
    )
    prepare = JobRun.objects.get(run=run, name="prepare")
    stamp = finished.isoformat().replace("+00:00", "Z")
    LogChunk.objects.create(
        job=prepare,
        first_line=1,
        line_count=3,
        lines=[[stamp, "listing /inputs/raw"], [stamp, "a.txt"], [stamp, "b"]],
    )
    JobRun.objects.filter(run=run, name="report").update(
        phase="FAILED",
        started=started,
        finished=finished,
        attempt=1,
        exit_code=3,
        message="exited with code 3",
    )
    Run.objects.filter(pk=run.pk).update(phase="FAILED", started=started, finished=finished)
    run.refresh_from_db()


@pytest.fixture
def scene(team, owner, member) -> Scene:
    project = project_create(team=team, name="Vision")
    Cluster.objects.get_or_create(team=team, handle="local", defaults={"name": "Local engine"})
    raw = dataset_create(project=project, name="raw", description="Raw images")
    dataset_version_upload(
        dataset=raw, files=[("a.txt", io.BytesIO(b"a")), ("b/c.txt", io.BytesIO(b"cc"))]
    )
    listings = dataset_create(project=project, name="listings")
    secret_set(team=team, scope="project", project=project, name="api-token", value="s3cr3t-value")
    workflow = workflow_create(project=project, name="pipeline", user=owner)
    workflow_spec_update(workflow=workflow, text=LISTING)
    run = run_submit(workflow=workflow, spec_text=None, user=owner)
    produced = dataset_version_upload(
        dataset=listings, files=[("files.txt", io.BytesIO(b"a.txt\n"))]
    )
    _finish(run, produced, seconds=12)
    changed = LISTING.replace("wc -l", "wc -c")
    second = run_submit(
        workflow=workflow,
        spec_text=changed,
        user=member,
        inputs={"inputs": {"greeting": {"value": "bonjour"}}},
    )
    _finish(second, None, seconds=20)
    return Scene(project=project, workflow=workflow, run=run, second=second, produced=produced)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
