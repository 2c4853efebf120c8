"""The real `gradient` CLI v2 (PyPI 2.99.4, unchanged) against our server.

The CLI is installed once into a venv cached under the data folder; the
server is pytest-django's live server on the test database. Every CLI call is
a subprocess; API errors exit 0 with the message on stderr, so the tests read
the output rather than the exit code.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from runs.models import JobPhase, LogChunk, Run
from workflows.models import Cluster, Project, Secret, Workflow
from workflows.services import personal_team, project_create, user_with_api_key, workflow_create

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

CLI_VERSION = "2.99.4"
# click >= 8.3.1 breaks every command of this CLI (docs/gradient-cli-protocol.md, section 0).
CLI_REQUIREMENTS = (f"gradient=={CLI_VERSION}", "click<8.2")

SPEC = """\
on:
  github:
    branches:
      only: main
inputs:
  greeting:
    type: string
jobs:
  hello:
    uses: container@v1
    with:
      image: bash:5
      args:
        - bash
        - -c
        - cat /inputs/greeting
    inputs:
      greeting: workflow.inputs.greeting
"""
INPUTS = """\
inputs:
  greeting:
    value: hello from the CLI
"""
INVALID_SPEC = """\
jobs:
  fetch:
    uses: container@v1
    with:
      image: bash:5
      args:
        - bash
        - -c
        - 1
"""


def _cache_dir() -> Path:
    """`cache/` in the configured data folder.

    Not `settings.DATA_DIR`: the suite points that at a temporary folder for
    each session, and the CLI's venv should be built once per machine.
    """
    return Path(os.environ.get("GRADIENT_DATA_DIR", settings.BASE_DIR / "data")) / "cache"


def _install_cli() -> Path:
    """The CLI's executable, installed on first use; a lock keeps parallel runs from racing."""
    root = _cache_dir() / f"gradient-cli-{CLI_VERSION}"
    ready = root / ".installed"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"gradient-cli-{CLI_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            shutil.rmtree(root, ignore_errors=True)
            python = shutil.which("python3.11") or sys.executable
            subprocess.run([python, "-m", "venv", str(root)], check=True)
            subprocess.run(
                [str(root / "bin" / "pip"), "install", "-q", *CLI_REQUIREMENTS],
                check=True,
                env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
            )
            ready.touch()
    return root / "bin" / "gradient"


@pytest.fixture(scope="module")
def gradient_executable() -> Path:
    return _install_cli()


@dataclass(frozen=True)
class Output:
    out: str
    err: str

    def json(self) -> object:
        """The JSON document `workflows get` prints after its spinner frames."""
        return json.loads(self.out[self.out.index("{") :])


@dataclass(frozen=True)
class Gradient:
    executable: Path
    url: str
    key: str
    home: Path

    def __call__(self, *args: str) -> Output:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "PAPERSPACE_CONFIG_HOST": self.url,
            "PAPERSPACE_CONFIG_LOG_HOST": self.url,
            "PYTHONWARNINGS": "ignore",
        }
        result = subprocess.run(
            [str(self.executable), *args, "--apiKey", self.key],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return Output(result.stdout, result.stderr)


@pytest.fixture
def user_and_key(transactional_db):
    return user_with_api_key(username="ada")


@pytest.fixture
def gradient(gradient_executable, live_server, user_and_key, tmp_path, queued) -> Gradient:
    return Gradient(gradient_executable, f"{live_server.url}/gradient", user_and_key[1], tmp_path)


@pytest.fixture
def personal_project(user_and_key) -> Project:
    """A project of ada's own team: the CLI holds her key, and she is in no fixture's team."""
    return project_create(team=personal_team(user_and_key[0]), name="Demo")


@pytest.fixture
def personal_workflow(personal_project, user_and_key) -> Workflow:
    return workflow_create(project=personal_project, name="wf-demo", user=user_and_key[0])


def test_projects_create_and_list(gradient, user_and_key):
    created = gradient("projects", "create", "--name", "Vision")
    team = personal_team(user_and_key[0])
    project = Project.objects.get(team=team, name="Vision")
    assert f"Project created with ID: {project.handle}" in created.out
    assert f"/{team.handle}/projects/{project.handle}" in created.out
    assert created.err == ""

    listed = gradient("projects", "list")
    assert f"| {project.handle} " in listed.out
    assert "| Vision " in listed.out

    duplicate = gradient("projects", "create", "--name", "Vision")
    assert 'Failed to create resource: this team already has a project named "Vision"' in (
        duplicate.err
    )


def test_workflows_create_list_get(gradient, personal_project):
    created = gradient(
        "workflows", "create", "--name", "wf1", "--projectId", personal_project.handle
    )
    workflow = Workflow.objects.get(project=personal_project, name="wf1")
    assert f"| wf1  | {workflow.id} |" in created.out

    listed = gradient("workflows", "list", "--projectId", personal_project.handle)
    assert f"| wf1  | {workflow.id} |" in listed.out

    shown = gradient("workflows", "get", "--id", str(workflow.id)).json()
    assert shown["id"] == str(workflow.id)
    assert shown["name"] == "wf1"
    assert shown["projectId"] == personal_project.handle

    unknown = gradient("workflows", "get", "--id", "3f9e2c1a-1111-2222-3333-444455556666")
    assert unknown.json() == {
        "error": {
            "message": 'there is no workflow "3f9e2c1a-1111-2222-3333-444455556666" in your teams'
        }
    }
    not_a_project = gradient("workflows", "list", "--projectId", "nope")
    assert 'Failed to fetch data: there is no project "nope" in your teams' in not_a_project.err


def test_secrets_at_team_project_and_cluster_scope(gradient, personal_project):
    value = "s3cr3t-value-123"
    targets = {
        "team": [],
        "project": ["--id", personal_project.handle],
        "cluster": ["--id", "local"],
    }
    for scope, target in targets.items():
        name = f"{scope.upper()}_TOKEN"
        set_ = gradient("secrets", "set", scope, *target, "--name", name, "--value", value)
        assert f"Set {scope} secret '{name}'" in set_.out
        secret = Secret.objects.get(name=name)
        assert secret.scope == scope
        assert value.encode() not in bytes(secret.ciphertext)

        listed = gradient("secrets", "list", scope, *target)
        assert f"| {name} |" in listed.out
        assert value not in listed.out + listed.err

        deleted = gradient("secrets", "delete", scope, *target, "--name", name)
        assert f"Deleted {scope} secret '{name}'" in deleted.out
        assert not Secret.objects.filter(name=name).exists()

    again = gradient("secrets", "delete", "project", "--id", personal_project.handle, "--name", "X")
    assert 'Failed to fetch data: there is no project secret named "X"' in again.err
    missing = gradient("secrets", "list", "project", "--id", "nope")
    assert 'Failed to fetch data: there is no project "nope" in your teams' in missing.err


def test_run_show_runs_status_and_logs(gradient, personal_workflow, tmp_path, queued):
    spec_file, inputs_file = tmp_path / "spec.yaml", tmp_path / "inputs.yaml"
    spec_file.write_text(SPEC)
    inputs_file.write_text(INPUTS)
    started = gradient(
        "workflows",
        "run",
        "--id",
        str(personal_workflow.id),
        "--path",
        str(spec_file),
        "--inputPath",
        str(inputs_file),
    )
    run = Run.objects.get(workflow=personal_workflow)
    assert f"Created workflow run {run.log_id}" in started.out
    assert queued == [run.id]
    assert run.number == 1
    assert run.spec.text == SPEC
    assert run.inputs == {"greeting": {"value": "hello from the CLI"}}
    assert run.cluster.handle == "local"

    runs = gradient("workflows", "get", "--id", str(personal_workflow.id), "--show-runs")
    assert f"| 1   | local      | PENDING | {run.log_id} |" in runs.out

    document = gradient(
        "workflows", "get", "--id", str(personal_workflow.id), "--show-runs", "--run", "1"
    ).json()
    job = run.jobs.get()
    assert document["id"] == 1
    assert document["spec"]["on"] == {"github": {"branches": {"only": "main"}}}
    assert document["inputs"] == {"greeting": {"value": "hello from the CLI"}}
    assert document["status"]["phase"] == "PENDING"
    assert document["status"]["logId"] == run.log_id
    assert document["status"]["jobs"]["hello"]["logId"] == job.log_id
    assert document["status"]["inputs"]["greeting"]["value"] == "hello from the CLI"

    waiting = gradient("workflows", "logs", "--id", str(personal_workflow.id), "--run", "1")
    assert "Job Name: hello" in waiting.out
    assert "(no output yet: the job is PENDING)" in waiting.out

    LogChunk.objects.create(
        job=job,
        first_line=1,
        line_count=1,
        lines=[["2026-11-27T10:00:01Z", "hello from the CLI"]],
    )
    type(job).objects.filter(pk=job.pk).update(phase=JobPhase.SUCCEEDED)
    logs = gradient("workflows", "logs", "--id", str(personal_workflow.id), "--run", "1")
    assert "| 1    | hello from the CLI |" in logs.out
    assert "| 2    | PSEOF              |" in logs.out


def test_run_errors(gradient, personal_workflow, tmp_path):
    bad_spec = tmp_path / "bad.yaml"
    bad_spec.write_text(INVALID_SPEC)
    refused = gradient(
        "workflows", "run", "--id", str(personal_workflow.id), "--path", str(bad_spec)
    )
    assert (
        "Failed to fetch data: jobs.fetch.with.args[2] (line 9, column 11): "
        "jobs.fetch.with.args[2] must be a string" in refused.err
    )

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC)
    no_inputs = gradient(
        "workflows", "run", "--id", str(personal_workflow.id), "--path", str(spec_file)
    )
    assert 'Failed to fetch data: inputs.greeting: the run needs a value for input "greeting"' in (
        no_inputs.err
    )

    unknown = gradient(
        "workflows", "run", "--id", "3f9e2c1a-1111-2222-3333-444455556666", "--path", str(spec_file)
    )
    assert "Failed to fetch data: there is no workflow" in unknown.err
    assert not Run.objects.exists()


def test_clusters_list(gradient, user_and_key):
    cluster = Cluster.objects.get(team=personal_team(user_and_key[0]))
    listed = gradient("clusters", "list")
    assert f"| {cluster.handle} | {cluster.name} | Local engine |" in listed.out


@pytest.mark.usefixtures("bubblewrap")
def test_a_run_executed_by_a_worker_finishes_and_shows_its_logs(
    gradient_executable, live_server, user_and_key, personal_workflow, tmp_path
):
    from tests.processes import celery_worker
    from tests.runs.engine_helpers import wait_for_run

    gradient = Gradient(
        gradient_executable, f"{live_server.url}/gradient", user_and_key[1], tmp_path
    )
    spec_file, inputs_file = tmp_path / "spec.yaml", tmp_path / "inputs.yaml"
    spec_file.write_text(SPEC)
    inputs_file.write_text(INPUTS)

    with celery_worker(log_path=tmp_path / "worker.log"):
        gradient(
            "workflows",
            "run",
            "--id",
            str(personal_workflow.id),
            "--path",
            str(spec_file),
            "--inputPath",
            str(inputs_file),
        )
        run = wait_for_run(Run.objects.get(workflow=personal_workflow))

    assert run.phase == "SUCCEEDED"
    document = gradient(
        "workflows", "get", "--id", str(personal_workflow.id), "--show-runs", "--run", "1"
    ).json()
    assert document["status"]["phase"] == "SUCCEEDED"
    assert document["status"]["jobs"]["hello"]["phase"] == "SUCCEEDED"
    assert document["status"]["finished"] is not None
    runs = gradient("workflows", "get", "--id", str(personal_workflow.id), "--show-runs")
    assert "| SUCCEEDED |" in runs.out
    logs = gradient("workflows", "logs", "--id", str(personal_workflow.id), "--run", "1")
    assert "Job Name: hello" in logs.out
    assert "| hello from the CLI" in logs.out
    assert "| PSEOF" in logs.out
    assert logs.out.index("hello from the CLI") < logs.out.index("PSEOF")
