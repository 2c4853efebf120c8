"""A job attempt's folders on the host: what it reads, what it writes, and what it produced.

DATA_DIR/runs/<run id>/volumes/<job>/<output>/      volumes, kept until the run ends
DATA_DIR/runs/<run id>/attempts/<job>.<n>/
    workspace/    the job's working directory
    outputs/      mounted at /outputs: string outputs are files here
    files/        string inputs as files, scripts, helpers (made when first needed)
DATA_DIR/datasets/.staging/<tmp>/    a dataset output until the job succeeds

Folders are few and flat on purpose: making and removing them is a measurable
part of the time between one job's end and the next one's start.

The folders the job writes belong to the job user (sandbox.give_to_job). What
it leaves there is read by the worker, which may be root, so reading never
follows a link out of them: a string output is opened with O_NOFOLLOW from
the outputs folder, a dataset or volume output with a link leading out of it
fails the job naming the link (links that stay inside are kept), and the
total written under /workspace and /outputs is held to LOCAL_ENGINE_WRITABLE_MAX.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from runs.engine.local.sandbox import Limits, give_to_job
from runs.models import JobRun, Run
from runs.specs import spec_model
from runs.values import ResolvedInputs, outputs_from_json
from workflows.models import DatasetVersion
from workflows.services import links_leaving, staging_folder
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
    folder = Path(
        DatasetVersion.objects.values_list("storage_location", flat=True).get(pk=version_id)
    )
    # Versions committed before jobs ran as their own user were left 0700.
    mode = folder.stat().st_mode
    if mode & 0o005 != 0o005:
        folder.chmod(mode | 0o005)
    return folder


def _string_file(workspace: Workspace, name: str, value: str) -> Path:
    path = workspace.files() / "inputs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(value)
    return path


def _input_path(
    *,
    workspace: Workspace,
    run: Run,
    resolved: ResolvedInputs,
    job: Job,
    name: str,
    upstream: dict[str, JobRun],
) -> Path:
    job_input = job.inputs[name]
    source = job_input.source
    if source.kind == "job":
        produced = outputs_from_json(upstream[source.job].outputs).get(source.output)
        if job_input.type == "dataset":
            return _version_folder(produced.version_id)
        if job_input.type == "string":
            return _string_file(workspace, name, produced.value if produced else "")
        return volume_folder(run.pk, source.job, source.output)
    value = resolved.job_input(spec_model(run), job, name)
    if job_input.type == "dataset":
        return _version_folder(value.dataset.version_id)
    if job_input.type == "string":
        return _string_file(workspace, name, value.value or "")
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
    give_to_job(workspace.workdir)
    give_to_job(workspace.outputs)
    workspace.writable["/outputs"] = workspace.outputs
    resolved = ResolvedInputs.from_json(run.resolved_inputs)
    for name in job.inputs:
        workspace.read_only[f"/inputs/{name}"] = _input_path(
            workspace=workspace, run=run, resolved=resolved, job=job, name=name, upstream=upstream
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
        workspace.writable[f"/outputs/{name}"] = give_to_job(folder)
    return workspace


class LinkRefused(OSError):
    """The file the job left is a symbolic link; the worker does not follow it."""


def _open_no_follow(folder: Path, name: str, flags: int, mode: int = 0o644) -> int:
    """os.open of folder/NAME that follows no link, neither NAME nor FOLDER itself."""
    parent = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=parent)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise LinkRefused(error.errno, "a symbolic link") from None
        raise
    finally:
        os.close(parent)


def read_job_file(folder: Path, name: str, max_bytes: int) -> bytes | None:
    """Up to max_bytes + 1 bytes of a regular file the job wrote; None when it is not one."""
    try:
        fd = _open_no_follow(folder, name, os.O_RDONLY)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(max_bytes + 1)


def write_job_file(folder: Path, name: str, text: str) -> None:
    """Write a file into a folder the job owned, without following what it left there."""
    fd = _open_no_follow(folder, name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def read_string_output(workspace: Workspace, name: str) -> str:
    """The text the job wrote to /outputs/NAME; a link there fails, whatever it points to."""
    try:
        data = read_job_file(workspace.outputs, name, STRING_OUTPUT_MAX_BYTES)
    except LinkRefused:
        raise OutputError(
            f'the string output "{name}" is a symbolic link; write the value itself '
            f"to /outputs/{name}"
        ) from None
    if data is None:
        raise OutputError(string_output_problem(name, None))
    if len(data) > STRING_OUTPUT_MAX_BYTES:
        size = os.lstat(workspace.outputs / name).st_size
        raise OutputError(string_output_problem(name, "", size=size))
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OutputError(f'the string output "{name}" is not UTF-8 text') from None
    problem = string_output_problem(name, value)
    if problem:
        raise OutputError(problem)
    return value


def _bytes_under(folder: Path) -> int:
    total = 0
    for current, _, files in os.walk(folder):
        for name in files:
            info = os.lstat(os.path.join(current, name))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def outputs_check(workspace: Workspace) -> None:
    """Refuse outputs the worker must not read or keep: links out of them, or too many bytes."""
    folders = [("dataset", n, f) for n, f in workspace.dataset_outputs.items()]
    folders += [("volume", n, f) for n, f in workspace.volume_outputs.items()]
    for kind, name, folder in folders:
        leaving = links_leaving(folder)
        if leaving:
            shown = ", ".join(leaving[:5]) + (", ..." if len(leaving) > 5 else "")
            raise OutputError(
                f'the {kind} output "{name}" has symbolic links that leave the output: {shown} '
                "(a link in an output may only point inside it)"
            )
    written = sum(
        _bytes_under(f) for f in [workspace.workdir, workspace.outputs, *(f for *_, f in folders)]
    )
    limit = Limits.for_job().writable
    if written > limit:
        raise OutputError(
            f"the job wrote {written} bytes into /workspace and /outputs, more than the "
            f"{settings.LOCAL_ENGINE_WRITABLE_MAX} a job may (LOCAL_ENGINE_WRITABLE_MAX)"
        )
