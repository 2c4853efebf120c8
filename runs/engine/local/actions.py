"""What each action does on the local engine.

Every action becomes a command inside the job's sandbox, under the cluster's
network policy: container and script run the user's program, git-checkout
runs git, s3-download and create-model run small scripts of ours
(`sandboxed/`) with the worker's Python. Nothing that touches the network or
the job's data runs in the worker process. create-model's database row is the
one thing the worker writes, in `Plan.after`, once the sandbox has succeeded
and only from the summary it checked.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

from runs.engine.local.sandbox import give_to_job
from runs.engine.local.workspace import OutputError, Workspace, read_job_file, write_job_file
from runs.services import job_model_register
from workflows.clone_urls import LOCAL_REPOSITORIES_OFF, local_repository_path
from workflows.models import DatasetVersion
from workflows.spec import Job

SECRET_PREFIX = "secret:"
SANDBOXED = Path(__file__).resolve().parent / "sandboxed"


class ActionError(Exception):
    """The action cannot run as written; the message says what to change."""


@dataclass
class Plan:
    """A command for the sandbox, and what the worker records once it succeeded."""

    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    read_only: dict[str, Path] = field(default_factory=dict)
    after: Callable[[Callable[[str], None]], None] | None = None


def resolve_param(value, secrets: dict[str, str]):
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        return secrets[value[len(SECRET_PREFIX) :]]
    return value


def _container(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    argv = job.param_list("command") + job.param_list("args")
    if not argv:
        raise ActionError(
            "container@v1 needs `command` or `args` on the local engine: it runs on the host "
            "and cannot read the image's default entrypoint"
        )
    return Plan(argv=argv)


def _script(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    script = workspace.files() / "script.sh"
    script.write_text(job.params["script"])
    return Plan(argv=["bash", "/gradient/script.sh"], read_only={"/gradient/script.sh": script})


def _output_target(job: Job, workspace: Workspace) -> tuple[str, Path]:
    """Where git-checkout and s3-download put files: `path`, or the job's one folder output."""
    path = job.params.get("path")
    if path:
        relative = Path(str(path).lstrip("/"))
        if relative.parts[:1] == ("outputs",):
            relative = Path(*relative.parts[1:])
        if ".." in relative.parts or not relative.parts:
            raise ActionError(f'`path` "{path}" must name a folder under /outputs')
        return f"/outputs/{relative}", workspace.outputs / relative
    folders = [*workspace.dataset_outputs, *workspace.volume_outputs]
    if len(folders) != 1:
        raise ActionError(
            f"{job.uses} needs exactly one dataset or volume output, or a `path`; "
            f"this job has {len(folders)}"
        )
    return f"/outputs/{folders[0]}", workspace.output_folder(folders[0])


def _forbidden_local_path(path: Path) -> bool:
    resolved = path.resolve()
    for private in (settings.DATA_DIR, settings.BASE_DIR):
        if resolved == private or private in resolved.parents:
            return True
    return False


ASKPASS = """#!/bin/sh
case "$1" in
  Username*) cat /gradient/git/username ;;
  *) cat /gradient/git/password ;;
esac
"""

CLONE = (
    'git clone --no-hardlinks -- "$1" "$2" && if [ -n "$3" ]; then git -C "$2" checkout "$3"; fi'
)


def _git_checkout(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    url = str(job.params["url"])
    target, _ = _output_target(job, workspace)
    # The job user owns no repository; git's ownership check is for shared machines'
    # own users. A global file, since git drops GIT_CONFIG_* for a local clone's other side.
    config = workspace.files() / "gitconfig"
    config.write_text("[safe]\n\tdirectory = *\n")
    plan = Plan(
        env={"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": "/gradient/gitconfig"},
        read_only={"/gradient/gitconfig": config},
    )
    local = local_repository_path(url)
    if local is not None:
        if not settings.ALLOW_LOCAL_REPOSITORIES:
            raise ActionError(f"git-checkout@v1: {LOCAL_REPOSITORIES_OFF}")
        if not local.is_absolute() or not local.exists():
            raise ActionError(f'git-checkout@v1: the repository "{url}" does not exist')
        if _forbidden_local_path(local):
            raise ActionError(f'git-checkout@v1: "{url}" is inside the dashboard\'s own files')
        plan.read_only[str(local)] = local
    password = job.params.get("password")
    if password:
        helper = workspace.files() / "git"
        helper.mkdir()
        (helper / "askpass").write_text(ASKPASS)
        (helper / "askpass").chmod(0o500)
        (helper / "username").write_text(str(resolve_param(job.params.get("username"), secrets)))
        (helper / "password").write_text(resolve_param(password, secrets))
        for name in ("askpass", "username", "password"):
            give_to_job(helper / name)
        for name in ("username", "password"):
            (helper / name).chmod(0o400)
        plan.read_only["/gradient/git"] = helper
        plan.env["GIT_ASKPASS"] = "/gradient/git/askpass"
    plan.argv = ["sh", "-c", CLONE, "git-checkout", url, target, str(job.params.get("ref") or "")]
    return plan


def _our_python(plan: Plan, script: str, *options: str) -> list[str]:
    """argv running one of `sandboxed/`'s scripts with the worker's Python, bound read-only."""
    base = Path(sys.base_prefix).resolve()
    if not any(base.is_relative_to(folder) for folder in ("/usr", "/opt/conda")):
        plan.read_only[str(base)] = base
    plan.read_only[f"/gradient/{script}"] = SANDBOXED / script
    python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return [python, *options, f"/gradient/{script}"]


def _s3_download(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    url = urlparse(str(job.params["url"]))
    bucket, prefix = url.netloc, url.path.lstrip("/")
    target, _ = _output_target(job, workspace)
    plan = Plan(
        env={
            "AWS_ACCESS_KEY_ID": str(resolve_param(job.params["access-key"], secrets)),
            "AWS_SECRET_ACCESS_KEY": str(resolve_param(job.params["secret-access-key"], secrets)),
            "AWS_EC2_METADATA_DISABLED": "true",
            "S3_ENDPOINT": str(job.params.get("endpoint") or ""),
            "S3_REGION": str(job.params.get("region") or ""),
        }
    )
    # boto3 and what it needs: public packages, the app's own files are elsewhere.
    plan.read_only["/gradient/site-packages"] = Path(sysconfig.get_paths()["purelib"]).resolve()
    plan.argv = [*_our_python(plan, "s3_download.py", "-I"), bucket, prefix, target]
    return plan


def _create_model(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    """Register a Model from the dataset input `model`; its id becomes the string output."""
    model_input = workspace.read_only.get("/inputs/model")
    if model_input is None or job.inputs["model"].type != "dataset":
        raise ActionError("create-model@v1 needs a dataset input named `model`")
    (output_name,) = workspace.string_outputs
    plan = Plan()
    plan.argv = _our_python(plan, "create_model.py", "-I")

    def register(log: Callable[[str], None]) -> None:
        summary = _model_summary(read_job_file(workspace.workdir, "model.json", 1024))
        version = DatasetVersion.objects.select_related("dataset").get(
            storage_location=str(model_input)
        )
        model = job_model_register(
            job=job_run,
            project_id=version.dataset.project_id,
            name=str(job.params["name"]),
            model_type=str(job.params.get("type") or "Custom"),
            dataset_version=version,
        )
        write_job_file(workspace.outputs, output_name, model.id)
        log(
            f'registered model "{model.name}" ({model.id}) from {version}: '
            f"{summary['files']} files, {summary['bytes']} bytes"
        )

    plan.after = register
    return plan


def _model_summary(raw: bytes | None) -> dict[str, int]:
    """The sandbox's {"files", "bytes"}, checked: it is data the job's side wrote."""
    try:
        summary = json.loads(raw or b"")
        counts = {key: summary[key] for key in ("files", "bytes")}
    except (ValueError, TypeError, KeyError):
        counts = {}
    if not counts or not all(type(v) is int and v >= 0 for v in counts.values()):
        raise OutputError("create-model@v1: the model folder could not be described")
    return counts


PLANS = {
    "container": _container,
    "script": _script,
    "git-checkout": _git_checkout,
    "s3-download": _s3_download,
    "create-model": _create_model,
}


def action_plan(job: Job, workspace: Workspace, secrets: dict[str, str], job_run) -> Plan:
    return PLANS[job.action](job, workspace, secrets, job_run)
