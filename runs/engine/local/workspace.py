"""A job attempt's folders on the host: what it reads, what it writes, and what it produced.

DATA_DIR/runs/<run id>/volumes/<job>/<output>/      volumes, kept until the run ends
DATA_DIR/runs/<run id>/attempts/<job>.<n>/
    workspace/    the job's working directory
    outputs/      mounted at /outputs: string outputs are files here
    files/        string inputs as files, scripts, helpers (made when first needed)
DATA_DIR/datasets/.staging/<tmp>/    a dataset output until the job succeeds

Folders are few and flat on purpose: making and removing them is a measurable
part of the time between one job's end and the next one's start.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from runs.models import JobRun, Run
from workflows.models import DatasetVersion
from workflows.services import staging_folder
from workflows.spec import STRING_OUTPUT_MAX_BYTES, Job, string_output_problem


class OutputError(Exception):
    """An output the job did not produce as its type requires; the message names it."""


def run_folder(run_id: int) -> Path:
    return settings.DATA_DIR / "runs" / str(run_id)


def volume_folder(run_id: int, job_name: str, output: str) -> Path:
    return run_folder(run_id) / "volumes" / job_name / output


@dataclass
class Workspace:
    root: Path
    workdir: Path
    outputs: Path
    read_only: dict[str, Path] = field(default_factory=dict)
    writable: dict[str, Path] = field(default_factory=dict)
    dataset_outputs: dict[str, Path] = field(default_factory=dict)
    string_outputs: list[str] = field(default_factory=list)
    volume_outputs: dict[str, Path] = field(default_factory=dict)

    def files(self) -> Path:
        """The attempt's folder for scripts, helpers and string inputs; made on first use."""
        folder = self.root / "files"
        folder.mkdir(exist_ok=True)
        return folder

    def output_folder(self, name: str) -> Path:
        """The host folder behind /outputs/NAME (dataset and volume outputs)."""
        return self.dataset_outputs.get(name) or self.volume_outputs[name]

    def discard(self) -> None:
        for staged in self.dataset_outputs.values():
            shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _version_folder(version_id: int) -> Path:
    return Path(
        DatasetVersion.objects.values_list("storage_location", flat=True).get(pk=version_id)
    )


def _string_file(workspace: Workspace, name: str, value: str) -> Path:
    path = workspace.files() / "inputs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(value)
    return path


def _input_path(
    *, workspace: Workspace, run: Run, job: Job, name: str, upstream: dict[str, JobRun]
) -> Path:
    job_input = job.inputs[name]
    source = job_input.source
    if source.kind == "job":
        produced = upstream[source.job].outputs.get(source.output, {})
        if job_input.type == "dataset":
            return _version_folder(produced["dataset"]["versionId"])
        if job_input.type == "string":
            return _string_file(workspace, name, produced.get("value", ""))
        return volume_folder(run.pk, source.job, source.output)
    if source.kind == "workflow":
        value = run.resolved_inputs["workflow"][source.workflow_input]
    else:
        value = run.resolved_inputs.get("jobs", {}).get(job.name, {}).get(name) or {
            "type": job_input.type,
            "with": source.with_ or {},
        }
    if job_input.type == "dataset":
        return _version_folder(value["dataset"]["versionId"])
    if job_input.type == "string":
        return _string_file(workspace, name, value["with"].get("value", ""))
    empty = workspace.files() / "volumes" / name
    empty.mkdir(parents=True, exist_ok=True)
    return empty


def workspace_prepare(
    *, run: Run, job_run: JobRun, job: Job, upstream: dict[str, JobRun]
) -> Workspace:
    """Fresh folders for this attempt, with every input and output in place."""
    root = run_folder(run.pk) / "attempts" / f"{job.name}.{job_run.attempt}"
    try:
        os.mkdir(root)
    except FileNotFoundError:
        os.makedirs(root)
    except FileExistsError:  # not expected: each claim numbers a new attempt
        shutil.rmtree(root)
        os.mkdir(root)
    workspace = Workspace(root=root, workdir=root / "workspace", outputs=root / "outputs")
    os.mkdir(workspace.workdir)
    os.mkdir(workspace.outputs)
    workspace.writable["/outputs"] = workspace.outputs
    for name in job.inputs:
        workspace.read_only[f"/inputs/{name}"] = _input_path(
            workspace=workspace, run=run, job=job, name=name, upstream=upstream
        )
    for name, output in job.outputs.items():
        if output.type == "string":
            workspace.string_outputs.append(name)
            continue
        if output.type == "dataset":
            folder = staging_folder()
            workspace.dataset_outputs[name] = folder
        else:
            folder = volume_folder(run.pk, job.name, name)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            workspace.volume_outputs[name] = folder
        workspace.writable[f"/outputs/{name}"] = folder
    return workspace


def read_string_output(workspace: Workspace, name: str) -> str:
    path = workspace.outputs / name
    if not path.is_file():
        raise OutputError(string_output_problem(name, None))
    size = path.stat().st_size
    if size > STRING_OUTPUT_MAX_BYTES:
        raise OutputError(string_output_problem(name, "", size=size))
    try:
        value = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise OutputError(f'the string output "{name}" is not UTF-8 text') from None
    problem = string_output_problem(name, value)
    if problem:
        raise OutputError(problem)
    return value
